"""The WebAssembly runtime: engine and compile cache, admission, the
all-or-nothing invoke, and the fast calling convention. The only code that
imports wasmtime."""
