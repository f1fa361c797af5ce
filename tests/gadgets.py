"""Versions of one blueprint, ``/obj/gadget``, for the publishing and usage
tests: each tells ``poke``-ers its version tag, and the reload-aware ones run
an ``on-reload`` that does everything a hook can (state, a say, a callout, a
clone), so a canary that leaked anything would show it, and that traps when
the object's state has ``fragile`` set, so a canary can fail for some
objects and not others.

Built with the real toolchain (zig) once per session into a fixed directory
(shared by every module that imports the fixture).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox.build import toolchain

from .driver_support import ROOT, WIT

INCLUDE = ROOT / "world-src" / "include"

GADGET_H = r"""
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("gadget"));
    realm_state_set_text(RS("short"), RS("a gadget " TAG));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("gadget")}, 1);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)args;
    if (realm_str_eqz(verb, "poke")) {
        realm_tell(actor, RS(TAG));
        return true;
    }
    if (realm_str_eqz(verb, "crash")) {
        __builtin_trap();
    }
    if (realm_str_eqz(verb, "burn")) {
        volatile int64_t x = 0;
        for (int64_t i = 0; i < 200000; i++) x += i;
        realm_state_set_int(RS("burned"), x);
        return true;
    }
    if (realm_str_eqz(verb, "arm")) {
        realm_callout(RS("ring"), 100, 0, 0);
        return true;
    }
    return false;
}

void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    (void)self;
    (void)args;
    int64_t n = 0;
    realm_state_get_int(RS("rings"), &n);
    realm_state_set_int(RS("rings"), n + 1);
    realm_state_set_text(RS("last_callout"), method);
}

#ifdef RELOAD_WORK
void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    bool fragile = false;
    realm_state_get_bool(RS("fragile"), &fragile);
#ifdef RELOAD_TRAPS
    fragile = true;  /* every object: a version no canary passes */
#endif
    if (fragile) __builtin_trap();
    int64_t n = 0;
    realm_state_get_int(RS("reloads"), &n);
    realm_state_set_int(RS("reloads"), n + 1);
    realm_say(RS("reloading " TAG));
    realm_callout(RS("after_reload"), 1000, 0, 0);
    realm_clone(RS("/obj/gadget"));
}
#endif
"""

#: name -> (tag, whether on-reload does work and can trap)
VARIANTS = {
    "v1": ("v1", False),
    "v2": ("v2", True),
    "v3": ("v3", True),
    "v4": ("v4", False),
    "broken": ("broken", True),  # on-reload traps for every object
}


def _build(name: str, out_dir: Path) -> Path:
    tag, reload_work = VARIANTS[name]
    out = out_dir / f"gadget_{name}.wasm"
    if out.is_file():
        return out
    src = out_dir / f"gadget_{name}.c"
    defines = f'#define TAG "{tag}"\n' + ("#define RELOAD_WORK 1\n" if reload_work else "")
    if name == "broken":
        defines += "#define RELOAD_TRAPS 1\n"
    src.write_text(defines + '#include "gadget.h"\n')
    toolchain.compile_c(src, out, wit_dir=WIT, include_dirs=[INCLUDE, out_dir])
    return out


@pytest.fixture(scope="session", name="gadgets")
def gadgets_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Every variant's component bytes: name -> bytes."""
    out_dir = tmp_path_factory.getbasetemp() / "gadgets"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gadget.h").write_text(GADGET_H)
    with ThreadPoolExecutor() as pool:
        paths = dict(zip(VARIANTS, pool.map(lambda n: _build(n, out_dir), VARIANTS), strict=True))
    return {name: path.read_bytes() for name, path in paths.items()}
