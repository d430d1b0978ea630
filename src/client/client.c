/*
 * client: what every storage client implementation shares.
 */
#include "client/client.h"

#include <stdlib.h>

void client_free(struct storage_client *c)
{
	if (!c)
		return;
	/* close releases the implementation's state (c->impl) */
	if (c->ops && c->ops->close)
		c->ops->close(c);
	free(c);
}
