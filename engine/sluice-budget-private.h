/* sluice-budget-private.h — spending caps per day and month, read from
 * the ledger, checked before each provider attempt.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice.h"

G_BEGIN_DECLS

#define SLUICE_TYPE_BUDGET (sluice_budget_get_type ())
G_DECLARE_FINAL_TYPE (SluiceBudget, sluice_budget, SLUICE, BUDGET, GObject)

/* @config: {daily_usd, monthly_usd, per: [overall | pipeline | "label:NAME"],
 * ledger: PATH, estimate_completion_tokens: N}. Reads what the ledger
 * says was spent this UTC day and month. */
SluiceBudget *sluice_budget_new        (JsonObject     *config,
                                        const char     *pipeline_name,
                                        GError        **error);
/* The pre-flight cost of an attempt on @target: the prompt's estimated
 * tokens plus the target's max_tokens (else estimate_completion_tokens),
 * at the catalog's price; -1 when the model has no price. */
gdouble       sluice_budget_estimate   (SluiceBudget   *self,
                                        SluiceContext  *context,
                                        JsonObject     *target);
/* Reserves @estimate_usd on every account of the request, or fails with
 * SLUICE_ERROR_BUDGET_EXCEEDED when one cap would be passed. Returns the
 * reservation (never 0), or 0 on refusal. */
guint64       sluice_budget_reserve    (SluiceBudget   *self,
                                        SluiceContext  *context,
                                        gdouble         estimate_usd,
                                        GError        **error);
/* Replaces a reservation by what was spent (@actual_usd < 0: unknown, the
 * estimate stands). */
void          sluice_budget_settle     (SluiceBudget   *self,
                                        guint64         reservation,
                                        gdouble         actual_usd);
guint         sluice_budget_get_n_refused (SluiceBudget *self);

G_END_DECLS
