/* config check|show: the configuration file and where values come from. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/help.h"

int cli_config(struct engine *en, const char *sub, struct cli_args *a)
{
	(void)en;
	(void)a;
	if (!sub || !cli_is_one_of(sub, cli_subcommands("config")))
		return cli_unknown("config", sub ? sub : "", cli_subcommands("config"));
	fprintf(stderr, "rexray: config %s: not implemented yet\n", sub);
	return 1;
}
