/* sluice-chain-policy.h — the 'chain' fallback policy.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_CHAIN_POLICY (sluice_chain_policy_get_type ())
G_DECLARE_FINAL_TYPE (SluiceChainPolicy, sluice_chain_policy, SLUICE, CHAIN_POLICY, GObject)

G_END_DECLS
