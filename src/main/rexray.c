/* rexray: the REX-Ray command (cli/cli.h says what it does). */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
