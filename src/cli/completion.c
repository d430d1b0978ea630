/* completion bash: the bash completion script. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_completion(const char *shell, struct cli_args *a)
{
	(void)a;
	if (!shell || strcmp(shell, "bash") != 0) {
		fprintf(stderr, "rexray: completion: expected a shell: bash\n");
		return 2;
	}
	fputs("complete -W 'volume service env config version help' rexray\n", stdout);
	return 0;
}
