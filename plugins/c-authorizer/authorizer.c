// A Gatehouse authorizer written in C: a request is allowed when its `x-api-token` header
// equals the plugin's `token` setting, as principal `c-user`; another token is denied (403)
// and a missing header is `unauthorized` (401).
//
// The bindings (authorizer.h, authorizer.c, authorizer_component_type.o) are generated at
// build time by `wit-bindgen c wit/ --world authorizer`; scripts/build-plugins.sh compiles this
// file with them for wasm32-wasi and wraps the module into a component.
//
// Ownership follows wit-bindgen's C conventions: the export owns its `request` argument and
// frees it; what it returns is allocated with malloc and freed by the generated post-return.

#include <stdlib.h>
#include <string.h>

#include "authorizer.h"

static bool str_eq(const authorizer_string_t *s, const char *c) {
  size_t n = strlen(c);
  return s->len == n && memcmp(s->ptr, c, n) == 0;
}

static bool str_eq_str(const authorizer_string_t *a, const authorizer_string_t *b) {
  return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

// The first value of header `name` (header names arrive lowercase), or NULL.
static const authorizer_string_t *header(const authorizer_request_t *req, const char *name) {
  for (size_t i = 0; i < req->headers.len; i++) {
    const gatehouse_plugin_types_multi_value_t *h = &req->headers.ptr[i];
    if (str_eq(&h->name, name) && h->values.len > 0) {
      return &h->values.ptr[0];
    }
  }
  return NULL;
}

static void log_info(const char *message) {
  authorizer_string_t m;
  authorizer_string_set(&m, message);
  gatehouse_plugin_log_log(GATEHOUSE_PLUGIN_LOG_LEVEL_INFO, &m);
}

bool exports_authorizer_authorize(authorizer_request_t *request, authorizer_decision_t *ret,
                                  authorizer_authorizer_error_t *err) {
  bool ok = true;
  const authorizer_string_t *token = header(request, "x-api-token");
  if (token == NULL || token->len == 0) {
    err->tag = GATEHOUSE_PLUGIN_TYPES_AUTHORIZER_ERROR_UNAUTHORIZED;
    ok = false;
    goto done;
  }

  authorizer_string_t name, expected;
  authorizer_string_set(&name, "token");
  if (!gatehouse_plugin_config_get(&name, &expected)) {
    err->tag = GATEHOUSE_PLUGIN_TYPES_AUTHORIZER_ERROR_FAILED;
    authorizer_string_dup(&err->val.failed, "config `token` is not set");
    ok = false;
    goto done;
  }

  memset(ret, 0, sizeof *ret);
  ret->allow = str_eq_str(token, &expected);
  authorizer_string_free(&expected);
  authorizer_string_dup(&ret->principal_id, ret->allow ? "c-user" : "anonymous");
  if (ret->allow) {
    // One context entry: language = c.
    ret->context.len = 1;
    ret->context.ptr = malloc(sizeof(gatehouse_plugin_types_pair_t));
    authorizer_string_dup(&ret->context.ptr[0].name, "language");
    authorizer_string_dup(&ret->context.ptr[0].value, "c");
  } else {
    log_info("token mismatch");
  }
  ret->usage_identifier_key.is_some = false;

done:
  authorizer_request_free(request);
  return ok;
}
