#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# The reflink-shim wrapper and the library's exported interface.

load helpers

@test "--help starts with a usage line and exits 0" {
	run "$SHIM_WRAPPER" --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: reflink-shim "* ]]
	[[ "$output" == *REFLINK_SHIM_DISABLE* ]]
}

@test "--version prints the version" {
	run "$SHIM_WRAPPER" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^reflink-shim\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "no command, or an unknown option: usage error 125" {
	run "$SHIM_WRAPPER"
	[ "$status" -eq 125 ]
	[[ "$output" == *"no command given"* ]]
	run "$SHIM_WRAPPER" --bogus true
	[ "$status" -eq 125 ]
	[[ "$output" == *"unknown option or missing argument: '--bogus'"* ]]
}

@test "the command's exit status is passed through; 127 when it cannot run" {
	run "$SHIM_WRAPPER" sh -c 'exit 7'
	[ "$status" -eq 7 ]
	run "$SHIM_WRAPPER" -- sh -c 'exit 0'
	[ "$status" -eq 0 ]
	run -127 "$SHIM_WRAPPER" /nonexistent/command
	[ "$status" -eq 127 ]
	[[ "$output" == *"/nonexistent/command"* ]]
}

@test "LD_PRELOAD is prepended once, existing entries kept" {
	run env -u LD_PRELOAD "$SHIM_WRAPPER" sh -c 'echo "$LD_PRELOAD"'
	[ "$output" = "$SHIM_LIB" ]
	run env LD_PRELOAD=libc.so.6 "$SHIM_WRAPPER" sh -c 'echo "$LD_PRELOAD"'
	[ "$output" = "$SHIM_LIB:libc.so.6" ]
	run env LD_PRELOAD=libc.so.6 "$SHIM_WRAPPER" "$SHIM_WRAPPER" sh -c 'echo "$LD_PRELOAD"'
	[ "$output" = "$SHIM_LIB:libc.so.6" ]
}

@test "a missing library is a clear error" {
	local d; d=$(mktemp -d)
	cp "$SHIM_WRAPPER" "$d/reflink-shim"
	run -127 "$d/reflink-shim" true
	rm -rf "$d"
	[ "$status" -eq 127 ]
	[[ "$output" == *"cannot find libreflink-shim.so"* ]]
}

@test "programs run unchanged under the shim (no root needed)" {
	run "$SHIM_WRAPPER" sh -c 'echo hello | cat; printf "%s\n" a b | sort -r'
	[ "$status" -eq 0 ]
	[ "$output" = "hello
b
a" ]
}
