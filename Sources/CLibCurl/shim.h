#ifndef MINSKY_CLIBCURL_SHIM_H
#define MINSKY_CLIBCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed
   wrapper per kind of argument. */
typedef size_t (*mk_curl_data_cb)(char *, size_t, size_t, void *);
typedef int (*mk_curl_progress_cb)(void *, curl_off_t, curl_off_t, curl_off_t, curl_off_t);

static inline CURLcode mk_curl_long(CURL *c, CURLoption o, long v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode mk_curl_str(CURL *c, CURLoption o, const char *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode mk_curl_ptr(CURL *c, CURLoption o, void *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode mk_curl_slist(CURL *c, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode mk_curl_size(CURL *c, CURLoption o, curl_off_t v) { return curl_easy_setopt(c, o, v); }
static inline CURLcode mk_curl_write(CURL *c, mk_curl_data_cb f) { return curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, f); }
static inline CURLcode mk_curl_header(CURL *c, mk_curl_data_cb f) { return curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, f); }
static inline CURLcode mk_curl_progress(CURL *c, mk_curl_progress_cb f) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    return curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, f);
}
static inline long mk_curl_status(CURL *c) {
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}
#endif
