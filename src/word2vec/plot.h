/* A map of words: their vectors projected on the first two principal components (PCA by power iteration
 * on the covariance) and drawn as a labelled scatter plot in SVG. */
#ifndef PL_W2V_PLOT_H
#define PL_W2V_PLOT_H

#include <stdint.h>

/* Project n rows of x (n, dim) onto their two principal axes: xy (n, 2); var[2]: the share of the variance
 * each axis explains. Deterministic (each axis' sign: its largest component positive). n >= 2. */
int pl_w2v_pca2(const float *x, int n, int dim, float *xy, float var[2]);
/* Write the scatter plot of n labelled points (xy as from pl_w2v_pca2) to path. */
int pl_w2v_svg(const char *path, const char *const *labels, const float *xy, int n, const float var[2]);

#endif
