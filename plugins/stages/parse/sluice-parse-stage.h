/* sluice-parse-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_PARSE_STAGE (sluice_parse_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceParseStage, sluice_parse_stage, SLUICE, PARSE_STAGE, GObject)

G_END_DECLS
