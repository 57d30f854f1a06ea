/* sluice-token-count-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_TOKEN_COUNT_STAGE (sluice_token_count_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceTokenCountStage, sluice_token_count_stage, SLUICE, TOKEN_COUNT_STAGE, GObject)

G_END_DECLS
