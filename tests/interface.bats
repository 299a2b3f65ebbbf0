#!/usr/bin/env bats
# The library's interface: what it exports, and that it covers every entry
# point libc offers into the families it wraps.

load helpers

# Names symbols.def declares (wrappers, aliases, own implementations).
declared() {
	cc -E -P -x c -D'REQ(n,r,p,...)=n' -D'OPT(n,r,p,...)=n' -D'ALIAS(n,t)=n' -D'OWN(n)=n' "$SHIM_TOP/shim/symbols.def" |
		tr -s ' \n' '\n' | grep . | sort -u
}

@test "the library exports exactly the names in symbols.def" {
	diff <(declared) <(nm -D --defined-only "$SHIM_LIB" | awk '{print $3}' | sort)
}

# glibc_needed FILE: the newest GLIBC_ symbol version FILE requires (none:
# empty). objdump -p lists every version the dynamic linker will check.
glibc_needed() {
	objdump -p "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n 1
}

@test "the library requires no glibc symbol version newer than 2.28 (RHEL 8): built anywhere, it loads there" {
	need_cmd objdump
	local v
	v=$(glibc_needed "$SHIM_LIB")
	echo "$SHIM_LIB requires GLIBC_${v:-(nothing)}"
	[ -z "$v" ] || [ "$(printf '%s\n' "$v" 2.28 | sort -V | tail -n 1)" = 2.28 ]
}

@test "every libc symbol of a wrapped family is wrapped or excused in tests/unwrapped.txt" {
	local libc
	libc=$(ldd /bin/true | awk '/libc\.so/ {print $3}')
	[ -f "$libc" ] || skip "cannot find libc"
	local family='^(__)?(p?readv?2?|p?writev?2?|p?readv|p?writev|preadv(64)?v?2?|pwritev(64)?v?2?|read|write|pread(64)?|pwrite(64)?)(64)?(_chk|_nocancel)?$'
	family+='|^(__)?(open|openat|creat|close|close_range|closefrom|dup[23]?|fcntl|lseek|ftruncate|truncate|fallocate|posix_fallocate)(64)?(_2|_nocancel)?$'
	family+='|^(__)?(f|l)?stat(at)?(64)?$|^statx$|^__(f|l)?xstat(at)?(64)?$'
	family+='|^(sendfile|copy_file_range|splice)(64)?$|^(__)?mmap(64)?$|^ioctl$|^syscall$'
	family+='|^f?exec|^_[eE]xit$|^quick_exit$'
	family+='|^(f|l)?ch(mod|own)(at)?$|^(f|l)?utime|^utimensat$|^futimens$|^(f|l)?(set|remove)xattr$'
	family+='|^open|^close|^read|^dup'
	local missing
	missing=$(nm -D --defined-only "$libc" | awk '{print $3}' | grep -v '@GLIBC_PRIVATE' |
		sed 's/@.*//' | sort -u | grep -E "$family" |
		comm -23 - <(declared) |
		comm -23 - <(grep -v '^#' "$SHIM_TOP/tests/unwrapped.txt" | awk 'NF {print $1}' | sort -u))
	[ -z "$missing" ] || { echo "libc exports, not wrapped nor excused:"; echo "$missing"; return 1; }
}

@test "internal names do not collide with a program's own symbols" {
	local d; d=$(mktemp -d)
	cat > "$d/collide.c" <<'C'
#include <stdio.h>
#include <unistd.h>
/* Names the library uses internally (hidden): a program may define them too. */
int real = 1, cfg = 2, fdtab = 3, copies_active = 4, shim_ready = 5;
int copy_write(void) { return 6; }
int shim_init(void) { return 7; }
int fd_get(void) { return 8; }
int settle_locked(void) { return 9; }
int main(void)
{
	char buf[4];
	int s = real + cfg + fdtab + copies_active + shim_ready + copy_write() + shim_init() + fd_get() + settle_locked();
	if (write(1, "ok\n", 3) != 3 || read(0, buf, 0) != 0)
		return 1;
	return s == 45 ? 0 : 1;
}
C
	cc -o "$d/collide" "$d/collide.c"
	run env LD_PRELOAD="$SHIM_LIB" "$d/collide" < /dev/null
	rm -rf "$d"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
}
