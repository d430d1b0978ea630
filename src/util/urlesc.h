/*
 * urlesc: percent-encoding of one URL path segment (RFC 3986): the
 * unreserved characters A-Z a-z 0-9 - . _ ~ stay, every other byte becomes
 * %XX with upper-case hex. Byte for byte what libcurl's escape function gives, so
 * that the libStorage client builds the same paths whether or not libcurl
 * carries them (tests/unit/test_http_client.c compares the two).
 */
#ifndef RR_URLESC_H
#define RR_URLESC_H

/* The encoding of s, malloc'd (the caller frees it); NULL when out of memory. */
char *url_escape(const char *s);

/* The value of one hex digit (0-9, a-f, A-F), or -1: for the decoders of
 * %XX and \uXXXX. */
int hex_digit(char c);

#endif
