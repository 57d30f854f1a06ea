/* sluice-rate-limit-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_RATE_LIMIT_STAGE (sluice_rate_limit_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceRateLimitStage, sluice_rate_limit_stage, SLUICE, RATE_LIMIT_STAGE, GObject)

G_END_DECLS
