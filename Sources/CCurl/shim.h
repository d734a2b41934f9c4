// Typed wrappers for libcurl's variadic calls and for the macros Swift cannot import.
// Swift cannot call C variadic functions, so every curl_easy_setopt/getinfo shape we use
// gets a small fixed-signature inline function here.
#ifndef KFTRAY_CCURL_SHIM_H
#define KFTRAY_CCURL_SHIM_H

#include <curl/curl.h>
#include <dlfcn.h>
#include <poll.h>

static inline CURLcode kc_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode kc_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode kc_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode kc_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode kc_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }

/// Copies the bytes: curl owns its copy, the caller may free its buffer at once.
static inline CURLcode kc_setopt_blob(CURL *h, CURLoption o, const void *data, size_t len) {
  struct curl_blob blob;
  blob.data = (void *)data;
  blob.len = len;
  blob.flags = CURL_BLOB_COPY;
  return curl_easy_setopt(h, o, &blob);
}

typedef size_t (*kc_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode kc_setopt_datacb(CURL *h, CURLoption o, kc_data_callback cb) { return curl_easy_setopt(h, o, cb); }

typedef int (*kc_xferinfo_callback)(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static inline CURLcode kc_setopt_xferinfocb(CURL *h, kc_xferinfo_callback cb) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cb); }

static inline CURLcode kc_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode kc_getinfo_socket(CURL *h, curl_socket_t *v) { return curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, v); }
static inline CURLcode kc_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode kc_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }

static inline CURLMcode kc_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLSHcode kc_share_setopt_long(CURLSH *s, CURLSHoption o, long v) { return curl_share_setopt(s, o, v); }

// OpenSSL read-ahead for a long-lived upgraded connection. Without it OpenSSL asks the socket for
// each record's 5-byte header, then for its body: two recv calls per record, and a real API server
// sends many small records (a 4-byte SPDY header piece, a WebSocket frame header, `80 00`). With it
// one recv takes whatever the socket holds, up to the read buffer set here (OpenSSL's default is
// one record's size, about 16.7 KiB, which on a busy connection is two recv calls per 32 KiB).
// OpenSSL moves the unread rest of the buffer to its front before each record, so a bigger buffer
// trades recv calls for memmove: 16, 32 and 64 KiB cost the same CPU per GiB in A/B runs (both
// transports, both directions); 64 KiB makes the fewest syscalls.
// SSL_CTX_set_read_ahead is a macro over SSL_CTX_ctrl (SSL_CTRL_SET_READ_AHEAD, 41, openssl/ssl.h);
// SSL_CTX_set_default_read_buffer_len is a function. Both are looked up in the libssl libcurl has
// loaded: the plugin links no TLS library itself, and a libcurl on another TLS library never calls
// the callback (curl_easy_setopt then fails, which the caller ignores).
static inline CURLcode kc_ssl_ctx_read_ahead(CURL *curl, void *ssl_ctx, void *userptr) {
  (void)curl;
  (void)userptr;
  typedef long (*kc_ssl_ctx_ctrl)(void *, int, long, void *);
  typedef void (*kc_ssl_ctx_set_read_buffer_len)(void *, size_t);
  kc_ssl_ctx_ctrl ctrl = (kc_ssl_ctx_ctrl)dlsym(RTLD_DEFAULT, "SSL_CTX_ctrl");
  kc_ssl_ctx_set_read_buffer_len set_len =
      (kc_ssl_ctx_set_read_buffer_len)dlsym(RTLD_DEFAULT, "SSL_CTX_set_default_read_buffer_len");
  if (ctrl != NULL && set_len != NULL) {
    ctrl(ssl_ctx, 41, 1, NULL);
    set_len(ssl_ctx, 64 * 1024);
  }
  return CURLE_OK;
}
static inline CURLcode kc_enable_tls_read_ahead(CURL *h) {
  return curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, kc_ssl_ctx_read_ahead);
}

// Macros with casts that Swift does not import.
static inline long kc_http_version_1_1(void) { return (long)CURL_HTTP_VERSION_1_1; }
static inline long kc_http_version_2tls(void) { return (long)CURL_HTTP_VERSION_2TLS; }
static inline long kc_sslversion_tls1_2(void) { return (long)CURL_SSLVERSION_TLSv1_2; }
static inline long kc_pipe_multiplex(void) { return (long)CURLPIPE_MULTIPLEX; }
static inline size_t kc_writefunc_pause(void) { return CURL_WRITEFUNC_PAUSE; }
static inline curl_version_info_data *kc_version_info(void) { return curl_version_info(CURLVERSION_NOW); }

#endif
