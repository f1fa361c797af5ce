"""The build: toolchains (zig cc, wasm-tools, componentize-py), the world
build and its manifest. Runs compilers; never imports wasmtime."""
