/* The weights of CLIP and SigLIP dual encoders by role, and their names in Hugging Face checkpoints
 * (CLIPModel's, SiglipModel's). A name is a printf format of the tower ("vision_model" or "text_model") and the
 * layer, in that order; roles that belong to one tower or to the model ignore what they do not use. The loader
 * (src/models/clip_model.c) asks for a role and a shape; the names live only here. */
#ifndef PL_IO_CLIP_NAMES_H
#define PL_IO_CLIP_NAMES_H

typedef enum {
    /* both towers */
    PL_CL_POS, PL_CL_POST_NORM, PL_CL_POST_NORM_B,
    /* each layer of either tower */
    PL_CL_NORM1, PL_CL_NORM1_B, PL_CL_Q, PL_CL_Q_B, PL_CL_K, PL_CL_K_B, PL_CL_V, PL_CL_V_B, PL_CL_O, PL_CL_O_B,
    PL_CL_NORM2, PL_CL_NORM2_B, PL_CL_UP, PL_CL_UP_B, PL_CL_DOWN, PL_CL_DOWN_B,
    /* vision */
    PL_CL_PATCH, PL_CL_PATCH_B, PL_CL_CLASS, PL_CL_PRE_NORM, PL_CL_PRE_NORM_B,
    PL_CL_PROBE, PL_CL_HEAD_IN, PL_CL_HEAD_IN_B, PL_CL_HEAD_OUT, PL_CL_HEAD_OUT_B, PL_CL_HEAD_NORM, PL_CL_HEAD_NORM_B,
    PL_CL_HEAD_UP, PL_CL_HEAD_UP_B, PL_CL_HEAD_DOWN, PL_CL_HEAD_DOWN_B,
    /* text */
    PL_CL_TOK, PL_CL_FINAL_NORM, PL_CL_FINAL_NORM_B, PL_CL_TEXT_HEAD, PL_CL_TEXT_HEAD_B,
    /* the model */
    PL_CL_VISUAL_PROJ, PL_CL_TEXT_PROJ, PL_CL_LOGIT_SCALE, PL_CL_LOGIT_BIAS,
    PL_CL_COUNT
} pl_clip_role;

/* printf format (%s: the tower, %d: the layer) of a role's tensor */
const char *pl_clip_name_hf(pl_clip_role r);

#endif
