#!/usr/bin/env bats
# The musl build (make musl) under a musl-linked copier, as in an Alpine
# container.

load helpers

@test "make musl: a musl-linked copier under the musl library clones once" {
	command -v musl-gcc >/dev/null || skip "musl-gcc is not installed"
	need_fs T_XFS
	local lib=$SHIM_TOP/build/musl/libreflink-shim.so cp=$SHIM_TOP/build/musl/cp-rw
	[ -f "$lib" ]
	[ -x "$cp" ]
	file -L "$cp" | grep -q 'interpreter /lib/ld-musl' || skip "no dynamically linked musl"
	local d; d=$(testdir "$T_XFS")
	mksrc "$d/S" $((5 * 1024 * 1024 + 1))
	SHIM_LIB=$lib under_shim "$cp" "$d/S" "$d/D"
	[ "$clones" -eq 1 ]
	cmp "$d/S" "$d/D"
	[ "$(shared_bytes "$d/D")" -eq $((5 * 1024 * 1024 + 1)) ]
	SHIM_LIB=$lib under_shim "$cp" -b 512 "$d/S" "$d/E"
	[ "$clones" -eq 1 ]
	cmp "$d/S" "$d/E"
}
