/*
 * grpcdl: gRPC core loaded at run time with dlopen, for the CSI modules
 * only. Linked, libgrpc and the ~50 libraries behind it (abseil, re2, ssl,
 * cares...) were loaded and relocated at every exec of rexray: milliseconds
 * added to every CLI call (and to `dvdi run`, whose signal handling starts
 * only once they are loaded), though only an engine with a csi module ever
 * calls gRPC. As net/curldl.h does for libcurl.
 *
 * <grpc/grpc.h> is included for its types and prototypes only. A file that
 * calls gRPC includes this header after the gRPC headers: each function
 * name then stands for the pointer loaded into the table (a macro per
 * name), so calls read as ordinary gRPC calls. grpcdl_load must have
 * returned 0 before any of them runs.
 *
 * Thread-safe (pthread_once). The library is loaded once and never
 * unloaded.
 */
#ifndef RR_GRPCDL_H
#define RR_GRPCDL_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "util/err.h"

#define GRPCDL_SONAME "libgrpc.so.29"
#define GPRDL_SONAME "libgpr.so.29"

/* X(name): every function the CSI server calls; G: in libgpr. */
#define GRPCDL_FUNCS(X, G)                                                                \
	X(grpc_init) X(grpc_shutdown) X(grpc_server_create) X(grpc_server_start)          \
	X(grpc_server_destroy) X(grpc_server_shutdown_and_notify)                         \
	X(grpc_server_cancel_all_calls) X(grpc_server_register_method)                    \
	X(grpc_server_register_completion_queue) X(grpc_server_request_registered_call)   \
	X(grpc_server_request_call) X(grpc_server_add_http2_port)                         \
	X(grpc_insecure_server_credentials_create) X(grpc_server_credentials_release)     \
	X(grpc_completion_queue_create_for_next) X(grpc_completion_queue_next)            \
	X(grpc_completion_queue_shutdown) X(grpc_completion_queue_destroy)                \
	X(grpc_call_start_batch) X(grpc_call_unref) X(grpc_call_details_init)             \
	X(grpc_call_details_destroy) X(grpc_metadata_array_init)                          \
	X(grpc_metadata_array_destroy) X(grpc_raw_byte_buffer_create)                     \
	X(grpc_byte_buffer_destroy) X(grpc_byte_buffer_reader_init)                       \
	X(grpc_byte_buffer_reader_readall) X(grpc_byte_buffer_reader_destroy)             \
	X(grpc_slice_unref) X(grpc_slice_from_copied_string)                              \
	X(grpc_slice_from_copied_buffer) X(grpc_empty_slice)                              \
	G(gpr_inf_future) G(gpr_set_log_function) G(gpr_set_log_verbosity)

struct grpcdl {
#define GRPCDL_FIELD(name) __typeof__(&name) name;
	GRPCDL_FUNCS(GRPCDL_FIELD, GRPCDL_FIELD)
#undef GRPCDL_FIELD
};

extern struct grpcdl grpcdl;

/*
 * Load the libraries (once). Returns 0; -ELIBACC "cannot load
 * libgrpc.so.29 (needed for the CSI module): <dlerror>" when one is
 * missing or lacks a function. The outcome of the first call is kept.
 */
int grpcdl_load(struct err *e);

#ifndef GRPCDL_NO_MACROS
#define grpc_init (grpcdl.grpc_init)
#define grpc_shutdown (grpcdl.grpc_shutdown)
#define grpc_server_create (grpcdl.grpc_server_create)
#define grpc_server_start (grpcdl.grpc_server_start)
#define grpc_server_destroy (grpcdl.grpc_server_destroy)
#define grpc_server_shutdown_and_notify (grpcdl.grpc_server_shutdown_and_notify)
#define grpc_server_cancel_all_calls (grpcdl.grpc_server_cancel_all_calls)
#define grpc_server_register_method (grpcdl.grpc_server_register_method)
#define grpc_server_register_completion_queue (grpcdl.grpc_server_register_completion_queue)
#define grpc_server_request_registered_call (grpcdl.grpc_server_request_registered_call)
#define grpc_server_request_call (grpcdl.grpc_server_request_call)
#define grpc_server_add_http2_port (grpcdl.grpc_server_add_http2_port)
#define grpc_insecure_server_credentials_create \
	(grpcdl.grpc_insecure_server_credentials_create)
#define grpc_server_credentials_release (grpcdl.grpc_server_credentials_release)
#define grpc_completion_queue_create_for_next (grpcdl.grpc_completion_queue_create_for_next)
#define grpc_completion_queue_next (grpcdl.grpc_completion_queue_next)
#define grpc_completion_queue_shutdown (grpcdl.grpc_completion_queue_shutdown)
#define grpc_completion_queue_destroy (grpcdl.grpc_completion_queue_destroy)
#define grpc_call_start_batch (grpcdl.grpc_call_start_batch)
#define grpc_call_unref (grpcdl.grpc_call_unref)
#define grpc_call_details_init (grpcdl.grpc_call_details_init)
#define grpc_call_details_destroy (grpcdl.grpc_call_details_destroy)
#define grpc_metadata_array_init (grpcdl.grpc_metadata_array_init)
#define grpc_metadata_array_destroy (grpcdl.grpc_metadata_array_destroy)
#define grpc_raw_byte_buffer_create (grpcdl.grpc_raw_byte_buffer_create)
#define grpc_byte_buffer_destroy (grpcdl.grpc_byte_buffer_destroy)
#define grpc_byte_buffer_reader_init (grpcdl.grpc_byte_buffer_reader_init)
#define grpc_byte_buffer_reader_readall (grpcdl.grpc_byte_buffer_reader_readall)
#define grpc_byte_buffer_reader_destroy (grpcdl.grpc_byte_buffer_reader_destroy)
#define grpc_slice_unref (grpcdl.grpc_slice_unref)
#define grpc_slice_from_copied_string (grpcdl.grpc_slice_from_copied_string)
#define grpc_slice_from_copied_buffer (grpcdl.grpc_slice_from_copied_buffer)
#define grpc_empty_slice (grpcdl.grpc_empty_slice)
#define gpr_inf_future (grpcdl.gpr_inf_future)
#define gpr_set_log_function (grpcdl.gpr_set_log_function)
#define gpr_set_log_verbosity (grpcdl.gpr_set_log_verbosity)
#endif

#endif
