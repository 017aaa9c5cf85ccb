// A test authorizer that is slow to start: a constructor, run when the component is
// instantiated, spins for the milliseconds of its `start_ms` setting (none: no wait) before
// the instance is ready. Its calls are fast: every request is allowed as principal
// `slow-start`.
//
// The bindings come from `wit-bindgen c wit/ --world authorizer` at build time, as for
// c-authorizer.

#include <stdlib.h>
#include <string.h>

#include "authorizer.h"

__attribute__((constructor)) static void slow_start(void) {
  authorizer_string_t name, value;
  authorizer_string_set(&name, "start_ms");
  if (!gatehouse_plugin_config_get(&name, &value)) {
    return;
  }
  uint64_t ms = 0;
  for (size_t i = 0; i < value.len && value.ptr[i] >= '0' && value.ptr[i] <= '9'; i++) {
    ms = ms * 10 + (uint64_t)(value.ptr[i] - '0');
  }
  authorizer_string_free(&value);
  uint64_t until = gatehouse_plugin_clock_now_millis() + ms;
  while (gatehouse_plugin_clock_now_millis() < until) {
  }
}

bool exports_authorizer_authorize(authorizer_request_t *request, authorizer_decision_t *ret,
                                  authorizer_authorizer_error_t *err) {
  (void)err;
  memset(ret, 0, sizeof *ret);
  ret->allow = true;
  authorizer_string_dup(&ret->principal_id, "slow-start");
  authorizer_request_free(request);
  return true;
}
