/*
 * true — exits 0, as /bin/true does.
 *
 * Under emulation (make check-aarch64) a program that execs /bin/true must
 * run a program of its own architecture, as on an aarch64 host: the host's
 * x86_64 /bin/true would run natively and complain that it cannot preload
 * the aarch64 library. tests/aarch64.sh binds this one over /bin/true.
 */
int main(void)
{
	return 0;
}
