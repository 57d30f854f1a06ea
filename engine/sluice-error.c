/* sluice-error.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-error"

#include "sluice.h"

#include <gio/gio.h>

G_DEFINE_QUARK (sluice-error-quark, sluice_error)

static const char * const kinds[] = {
  [SLUICE_ERROR_FAILED] = "internal",
  [SLUICE_ERROR_INVALID_PIPELINE] = "pipeline",
  [SLUICE_ERROR_UNKNOWN_PLUGIN] = "unknown_plugin",
  [SLUICE_ERROR_INVALID_CONFIG] = "config",
  [SLUICE_ERROR_INVALID_INPUT] = "invalid_input",
  [SLUICE_ERROR_RATE_LIMITED] = "rate_limited",
  [SLUICE_ERROR_OVERLOADED] = "overloaded",
  [SLUICE_ERROR_SERVER] = "server",
  [SLUICE_ERROR_TIMEOUT] = "timeout",
  [SLUICE_ERROR_NETWORK] = "network",
  [SLUICE_ERROR_TRUNCATED] = "truncated",
  [SLUICE_ERROR_CONTEXT_OVERFLOW] = "context_overflow",
  [SLUICE_ERROR_CONTENT_FILTER] = "content_filter",
  [SLUICE_ERROR_AUTH] = "auth",
  [SLUICE_ERROR_BAD_REQUEST] = "bad_request",
  [SLUICE_ERROR_NOT_FOUND] = "not_found",
  [SLUICE_ERROR_MALFORMED] = "malformed",
  [SLUICE_ERROR_PARSE] = "parse",
  [SLUICE_ERROR_VALIDATION] = "validation",
  [SLUICE_ERROR_CANCELLED] = "cancelled",
  [SLUICE_ERROR_RERUN_LIMIT] = "rerun_limit",
  [SLUICE_ERROR_BUDGET_EXCEEDED] = "budget_exceeded",
  [SLUICE_ERROR_NOT_IMPLEMENTED] = "not_implemented",
  [SLUICE_ERROR_CIRCUIT_OPEN] = "circuit_open",
};

const char *
sluice_error_kind (SluiceErrorCode code)
{
  if ((guint) code < G_N_ELEMENTS (kinds) && kinds[code] != NULL)
    return kinds[code];
  return "internal";
}

const char *
sluice_error_kind_from_error (const GError *error)
{
  if (error == NULL)
    return "internal";
  if (error->domain == SLUICE_ERROR)
    return sluice_error_kind (error->code);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return "cancelled";
  return "internal";
}

gboolean
sluice_error_code_is_retryable (SluiceErrorCode code)
{
  switch (code)
    {
    case SLUICE_ERROR_RATE_LIMITED:
    case SLUICE_ERROR_OVERLOADED:
    case SLUICE_ERROR_SERVER:
    case SLUICE_ERROR_TIMEOUT:
    case SLUICE_ERROR_NETWORK:
    case SLUICE_ERROR_TRUNCATED:
    case SLUICE_ERROR_MALFORMED:
      return TRUE;
    default:
      return FALSE;
    }
}
