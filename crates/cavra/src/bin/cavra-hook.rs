//! `cavra-hook <agent> [hook options]`: the slim client of the repository's hook server
//! (`cavra_hook_wire::slim`: `std`, `libc` and the wire format only, so that it starts fast).

fn main() {
    cavra_hook_wire::slim::main()
}
