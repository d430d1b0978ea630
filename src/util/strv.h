/*
 * strv: NULL-terminated vectors of malloc'd strings, the shape every
 * name listing returns (cfg_names, mount_points, volplugin_names).
 */
#ifndef RR_STRV_H
#define RR_STRV_H

/* Free each string, then the vector; NULL is fine. */
void strv_free(char **v);

#endif
