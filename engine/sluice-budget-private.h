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

/* The wall clock, in microseconds since the epoch (g_get_real_time()). */
typedef gint64 (*SluiceBudgetClock) (gpointer user_data);

/* @config: the call stage's `budget:` block, {daily_usd, monthly_usd,
 * per: [overall | pipeline | "label:NAME"], ledger: PATH,
 * estimate_completion_tokens: N}. Reads what the ledger says was spent
 * this UTC day and month. SLUICE_ERROR_INVALID_CONFIG on a bad block,
 * SLUICE_ERROR_FAILED when the ledger exists but cannot be read. */
SluiceBudget *sluice_budget_new        (JsonObject        *config,
                                        const char        *pipeline_name,
                                        GError           **error);
/* The same on another clock (tests; NULL: the real one). */
SluiceBudget *sluice_budget_new_with_clock (JsonObject        *config,
                                            const char        *pipeline_name,
                                            SluiceBudgetClock  clock,
                                            gpointer           clock_data,
                                            GError           **error);
/* The pre-flight cost of an attempt: the prompt's tokens (as the
 * token-count stage counted them for @model, else the integer variable
 * input_tokens if set, else sluice_count_prompt_tokens(): exact for a
 * model with a local tokenizer) plus @target's max_tokens (else the
 * output the context-check stage reserved for this model, else
 * estimate_completion_tokens), at the catalog's price for @provider and
 * @model; -1 when the catalog has no price (a warning, once per model). */
gdouble       sluice_budget_estimate   (SluiceBudget      *self,
                                        SluiceContext     *context,
                                        const char        *provider,
                                        const char        *model,
                                        JsonObject        *target);
/* The same estimate with @completion_tokens of output, without a budget
 * (the context-check stage's pre-flight estimate); -1 when the catalog
 * has no price, silently. */
gdouble       sluice_budget_estimate_cost (SluiceContext   *context,
                                           const char      *provider,
                                           const char      *model,
                                           gint64           completion_tokens);
/* Reserves @estimate_usd (< 0: unknown, counted as 0) on every scope
 * value of the request, or fails with SLUICE_ERROR_BUDGET_EXCEEDED when
 * one cap would be passed. Returns the reservation (> 0), or 0 on
 * refusal. */
guint64       sluice_budget_reserve    (SluiceBudget      *self,
                                        SluiceContext     *context,
                                        gdouble            estimate_usd,
                                        GError           **error);
/* Replaces a reservation by what was spent (@actual_usd < 0: unknown,
 * the estimate stands as spent). */
void          sluice_budget_settle     (SluiceBudget      *self,
                                        guint64            reservation,
                                        gdouble            actual_usd);
guint         sluice_budget_get_n_refused (SluiceBudget   *self);

G_END_DECLS
