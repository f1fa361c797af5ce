/* Hostile in reset: unbounded recursion, which must trap when the stack
 * runs out (wasmtime's call-stack limit or the 128 KiB C stack). */
#define HOSTILE_RESET
#include "normal.h"

/* Not a tail call, and the volatile frame keeps the optimiser from turning
 * the recursion into a loop. */
__attribute__((noinline)) static uint32_t dive(uint32_t depth) {
    volatile uint8_t frame[64];
    if (depth == UINT32_MAX) return 0; /* never: the stack ends first */
    frame[depth % 64] = (uint8_t)depth;
    return dive(depth + 1) + frame[depth % 64];
}

void realm_reset(realm_str self) {
    (void)self;
    realm_state_set_int(RS("depth"), dive(0));
}
