/* sluice-weighted-policy.h — the 'weighted' fallback policy.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_WEIGHTED_POLICY (sluice_weighted_policy_get_type ())
G_DECLARE_FINAL_TYPE (SluiceWeightedPolicy, sluice_weighted_policy, SLUICE, WEIGHTED_POLICY, GObject)

G_END_DECLS
