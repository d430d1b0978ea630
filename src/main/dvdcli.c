/* dvdcli: the drop-in Docker volume driver CLI (dvdcli/dvdcli.h says what it does). */
#include "dvdcli/dvdcli.h"

int main(int argc, char **argv)
{
	return dvdcli_main(argc, argv);
}
