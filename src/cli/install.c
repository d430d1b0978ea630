/* install|uninstall: the systemd unit and a self-signed TLS pair. */
#include <stdio.h>

#include "cli/cli.h"

int cli_install(struct engine *en, const char *cmd, struct cli_args *a)
{
	(void)en;
	(void)a;
	fprintf(stderr, "rexray: %s: not implemented yet\n", cmd);
	return 1;
}
