//  ingest_errpage.c - OpenAI error objects for the errors libevent answers by itself.
//
//  libevent 2.1 answers some requests without calling our handler: a body over the size cap
//  (413), an unparsable request line, headers or chunked body (400), a method it does not
//  know (501), an Expect it cannot meet (417). It writes them with evhttp_send_error as an
//  HTML page, and 2.1 has no hook to replace it (2.2 adds evhttp_set_errorcb). So tg-ingest
//  defines evhttp_send_error itself: the dynamic linker binds libevent's own calls to the
//  executable's definition (ELF symbol interposition, as for malloc; Debian builds libevent
//  without -Bsymbolic), and clients get an OpenAI error object with an x-request-id here too.
//  Linked into the tg-ingest executable only, never into a library.
#include "ingest_priv.h"
#include "tg_error.h"
#include "tg_log.h"
#include "tg_util.h"

#include <event2/buffer.h>
#include <event2/http_struct.h>
#include <string.h>

void
evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    char rid[INGEST_RID_MAX + 1];
    if (!ingest_http_client_rid(req, rid))
        tg_id_fill(rid, "req_", 12);
    const char *msg, *code = NULL;
    switch (error) {
    case 413:
        msg = "The request body is larger than this gateway accepts (http.max_body_bytes).";
        code = "request_too_large";
        break;
    case 400:
        msg = "The HTTP request could not be parsed (request line, headers or chunked body).";
        break;
    case 417:
        msg = "The Expect header of the request cannot be met.";
        break;
    case 501:
        msg = "This HTTP method is not supported.";
        code = "method_not_allowed";
        break;
    default:
        msg = reason ? reason : "The request could not be served.";
    }
    tg_log_info("refused status=%d code=%s rid=%s msg=%s (by libevent)", error, code ? code : "-",
                rid, msg);
    char *body = tg_error_body(error, msg, "invalid_request_error", NULL, code);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_clear_headers(h);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, "x-request-id", rid);
    struct evbuffer *buf = evbuffer_new();
    if (buf)
        evbuffer_add(buf, body, strlen(body));
    if (!req->major) {  //  the request line did not parse: answer as HTTP/1.1
        req->major = 1;
        req->minor = 1;
    }
    evhttp_send_reply(req, error, reason, buf);
    if (buf)
        evbuffer_free(buf);
    free(body);
}
