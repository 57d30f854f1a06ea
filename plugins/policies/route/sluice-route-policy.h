/* sluice-route-policy.h — the 'route' fallback policy.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_ROUTE_POLICY (sluice_route_policy_get_type ())
G_DECLARE_FINAL_TYPE (SluiceRoutePolicy, sluice_route_policy, SLUICE, ROUTE_POLICY, GObject)

G_END_DECLS
