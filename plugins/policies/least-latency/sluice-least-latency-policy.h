/* sluice-least-latency-policy.h — the 'least-latency' fallback policy.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_LEAST_LATENCY_POLICY (sluice_least_latency_policy_get_type ())
G_DECLARE_FINAL_TYPE (SluiceLeastLatencyPolicy, sluice_least_latency_policy, SLUICE, LEAST_LATENCY_POLICY, GObject)

G_END_DECLS
