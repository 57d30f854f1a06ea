/* sluice-error.h — the SLUICE_ERROR domain and its stable codes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

#define SLUICE_ERROR (sluice_error_quark ())

/**
 * SluiceErrorCode:
 * @SLUICE_ERROR_FAILED: an internal failure (kind `internal`)
 * @SLUICE_ERROR_INVALID_PIPELINE: the pipeline file is wrong (kind `pipeline`)
 * @SLUICE_ERROR_UNKNOWN_PLUGIN: a named plugin does not exist (kind `unknown_plugin`)
 * @SLUICE_ERROR_INVALID_CONFIG: a plugin's configuration is wrong (kind `config`)
 * @SLUICE_ERROR_INVALID_INPUT: the request input is wrong (kind `invalid_input`)
 * @SLUICE_ERROR_RATE_LIMITED: the provider said 429 (kind `rate_limited`)
 * @SLUICE_ERROR_OVERLOADED: the provider is overloaded, 503/529 (kind `overloaded`)
 * @SLUICE_ERROR_SERVER: a 5xx from the provider (kind `server`)
 * @SLUICE_ERROR_TIMEOUT: an attempt ran out of time (kind `timeout`)
 * @SLUICE_ERROR_NETWORK: connecting or reading failed (kind `network`)
 * @SLUICE_ERROR_TRUNCATED: a stream ended before its terminal event (kind `truncated`)
 * @SLUICE_ERROR_CONTEXT_OVERFLOW: the prompt does not fit the model (kind `context_overflow`)
 * @SLUICE_ERROR_CONTENT_FILTER: the provider refused for content (kind `content_filter`)
 * @SLUICE_ERROR_AUTH: 401/403, or a missing key (kind `auth`)
 * @SLUICE_ERROR_BAD_REQUEST: 400/422 (kind `bad_request`)
 * @SLUICE_ERROR_NOT_FOUND: 404, e.g. an unknown model (kind `not_found`)
 * @SLUICE_ERROR_MALFORMED: the provider's body could not be understood (kind `malformed`)
 * @SLUICE_ERROR_PARSE: no JSON could be extracted from the answer (kind `parse`)
 * @SLUICE_ERROR_VALIDATION: the answer breaks the output schema (kind `validation`)
 * @SLUICE_ERROR_CANCELLED: the request was cancelled (kind `cancelled`)
 * @SLUICE_ERROR_RERUN_LIMIT: a stage asked to re-run too often (kind `rerun_limit`)
 * @SLUICE_ERROR_BUDGET_EXCEEDED: a spending cap would be passed (kind `budget_exceeded`)
 * @SLUICE_ERROR_NOT_IMPLEMENTED: a feature this build does not have (kind `not_implemented`)
 * @SLUICE_ERROR_CIRCUIT_OPEN: every target's circuit breaker is open (kind `circuit_open`)
 *
 * Stable error codes. The numbers never change; new codes are appended.
 */
typedef enum {
  SLUICE_ERROR_FAILED = 1,
  SLUICE_ERROR_INVALID_PIPELINE,
  SLUICE_ERROR_UNKNOWN_PLUGIN,
  SLUICE_ERROR_INVALID_CONFIG,
  SLUICE_ERROR_INVALID_INPUT,
  SLUICE_ERROR_RATE_LIMITED,
  SLUICE_ERROR_OVERLOADED,
  SLUICE_ERROR_SERVER,
  SLUICE_ERROR_TIMEOUT,
  SLUICE_ERROR_NETWORK,
  SLUICE_ERROR_TRUNCATED,
  SLUICE_ERROR_CONTEXT_OVERFLOW,
  SLUICE_ERROR_CONTENT_FILTER,
  SLUICE_ERROR_AUTH,
  SLUICE_ERROR_BAD_REQUEST,
  SLUICE_ERROR_NOT_FOUND,
  SLUICE_ERROR_MALFORMED,
  SLUICE_ERROR_PARSE,
  SLUICE_ERROR_VALIDATION,
  SLUICE_ERROR_CANCELLED,
  SLUICE_ERROR_RERUN_LIMIT,
  SLUICE_ERROR_BUDGET_EXCEEDED,
  SLUICE_ERROR_NOT_IMPLEMENTED,
  SLUICE_ERROR_CIRCUIT_OPEN,
} SluiceErrorCode;

GQuark      sluice_error_quark            (void);

/**
 * sluice_error_kind:
 * @code: a #SluiceErrorCode
 *
 * Returns: (transfer none): the stable snake_case kind name of @code, as
 *   written in error objects and ledgers ("rate_limited", "timeout", ...).
 */
const char *sluice_error_kind             (SluiceErrorCode code);

/**
 * sluice_error_kind_from_error:
 * @error: (nullable): any #GError
 *
 * Returns: (transfer none): the kind of @error; errors outside the
 *   %SLUICE_ERROR domain are `internal`, except cancellations (`cancelled`).
 */
const char *sluice_error_kind_from_error  (const GError *error);

/**
 * sluice_error_code_is_retryable:
 * @code: a #SluiceErrorCode
 *
 * Returns: %TRUE for the transient provider failures worth another attempt:
 *   rate_limited, overloaded, server, timeout, network, truncated, malformed.
 */
gboolean    sluice_error_code_is_retryable (SluiceErrorCode code);

G_END_DECLS
