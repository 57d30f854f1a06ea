/* sluice-sanitize-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_SANITIZE_STAGE (sluice_sanitize_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceSanitizeStage, sluice_sanitize_stage, SLUICE, SANITIZE_STAGE, GObject)

G_END_DECLS
