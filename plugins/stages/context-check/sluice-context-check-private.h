/* sluice-context-check-private.h — what the context-check stage's files share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice-context-check-stage.h"

G_BEGIN_DECLS

typedef enum
{
  OVERFLOW_REJECT,
  OVERFLOW_TRUNCATE,
  OVERFLOW_FALLBACK,
} Overflow;

/* A model the prompt must fit. */
typedef struct
{
  char   *provider;
  char   *model;
  gint64  window;
  gint64  reserve;
} Checked;

/* "the prompt of N tokens and the R reserved for the output need ..." */
char          *sluice_context_check_overflow_message (Checked        *checked,
                                                      gint64          tokens,
                                                      gboolean        estimated);
/* Fails with context_overflow and @message, the numbers in the error's details. */
SluiceVerdict  sluice_context_check_fail             (SluiceContext  *context,
                                                      Checked        *checked,
                                                      gint64          tokens,
                                                      const char     *message,
                                                      GError        **error);
/* The count where the budget, the rate-limit stage and the route policy read it. */
void           sluice_context_check_keep_count       (SluiceContext  *context,
                                                      Checked        *checked,
                                                      gint64          tokens,
                                                      gboolean        estimated);
/* The preflight record's numbers and cost estimate. */
void           sluice_context_check_record           (SluiceContext  *context,
                                                      Checked        *checked,
                                                      gint64          tokens,
                                                      gboolean        estimated);
/* on_overflow: truncate, once the prompt of @tokens does not fit. */
SluiceVerdict  sluice_context_check_truncate         (SluiceContext  *context,
                                                      JsonArray      *messages,
                                                      Checked        *checked,
                                                      const char     *variable,
                                                      gdouble         safety_factor,
                                                      gint64          tokens,
                                                      gboolean        estimated,
                                                      GError        **error);

G_END_DECLS
