/*
 * pqdl: libpq (PostgreSQL's client library) loaded at run time with
 * dlopen, for the PostgreSQL store only. Linked, libpq and the libraries
 * behind it (gssapi, ldap, ssl...) were loaded and relocated at every
 * exec of rexray and dvdcli, though only a server configured with
 * libstorage.server.store: postgres://... ever calls it. As net/curldl.h
 * does for libcurl and csi/grpcdl.h for gRPC.
 *
 * <libpq-fe.h> is included for its types and prototypes only. A file that
 * calls libpq includes this header: each function name then stands for
 * the pointer loaded into the table (a macro per name), so calls read as
 * ordinary libpq calls. pqdl_load must have returned 0 before any runs.
 *
 * Thread-safe (pthread_once). Loaded once, never unloaded.
 */
#ifndef RR_PQDL_H
#define RR_PQDL_H

#include <libpq-fe.h>

#include "util/err.h"

#define PQDL_SONAME "libpq.so.5"

/* X(name): every function the store calls. */
#define PQDL_FUNCS(X)                                                                      \
	X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQfinish) X(PQreset)          \
	X(PQexecParams) X(PQexec) X(PQresultStatus) X(PQresultErrorField) X(PQclear)       \
	X(PQntuples) X(PQgetvalue) X(PQgetisnull) X(PQcmdTuples) X(PQsetNoticeProcessor)   \
	X(PQtransactionStatus) X(PQsocket) X(PQconsumeInput) X(PQnotifies) X(PQfreemem)

struct pqdl {
#define PQDL_FIELD(name) __typeof__(&name) name;
	PQDL_FUNCS(PQDL_FIELD)
#undef PQDL_FIELD
};

extern struct pqdl pqdl;

/* Load libpq (once). 0, or -ELIBACC "cannot load libpq.so.5 (...)"; the
 * outcome of the first call is kept. */
int pqdl_load(struct err *e);

#ifndef PQDL_NO_MACROS
#define PQconnectdbParams (pqdl.PQconnectdbParams)
#define PQstatus (pqdl.PQstatus)
#define PQerrorMessage (pqdl.PQerrorMessage)
#define PQfinish (pqdl.PQfinish)
#define PQreset (pqdl.PQreset)
#define PQexecParams (pqdl.PQexecParams)
#define PQexec (pqdl.PQexec)
#define PQresultStatus (pqdl.PQresultStatus)
#define PQresultErrorField (pqdl.PQresultErrorField)
#define PQclear (pqdl.PQclear)
#define PQntuples (pqdl.PQntuples)
#define PQgetvalue (pqdl.PQgetvalue)
#define PQgetisnull (pqdl.PQgetisnull)
#define PQcmdTuples (pqdl.PQcmdTuples)
#define PQsetNoticeProcessor (pqdl.PQsetNoticeProcessor)
#define PQtransactionStatus (pqdl.PQtransactionStatus)
#define PQsocket (pqdl.PQsocket)
#define PQconsumeInput (pqdl.PQconsumeInput)
#define PQnotifies (pqdl.PQnotifies)
#define PQfreemem (pqdl.PQfreemem)
#endif

#endif
