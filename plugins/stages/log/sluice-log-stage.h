/* sluice-log-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_LOG_STAGE (sluice_log_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceLogStage, sluice_log_stage, SLUICE, LOG_STAGE, GObject)

G_END_DECLS
