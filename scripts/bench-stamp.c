/*
 * The hook of scripts/bench's hook-start row: appends one line
 *
 *	EVENT_ID REALTIME_NS
 *
 * to FILE as soon as it starts (CLOCK_REALTIME, the clock the sender
 * reads when the 200 arrives), then reads its payload to the end and
 * exits 0.  The event id comes from STRIPE_EVENT_ID.
 *
 *	bench-stamp FILE
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	struct timespec	 ts;
	const char	*id;
	char		 line[256], buf[4096];
	int		 fd, n, status = 1;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (argc != 2)
		return 2;
	if ((id = getenv("STRIPE_EVENT_ID")) == NULL)
		id = "-";
	n = snprintf(line, sizeof(line), "%s %lld\n", id,
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (n < 0 || (size_t)n >= sizeof(line))
		return 1;
	if ((fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1) {
		perror(argv[1]);
		return 1;
	}
	if (write(fd, line, n) == n)
		status = 0;
	close(fd);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	return status;
}
