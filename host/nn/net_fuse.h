/* host/nn/net_fuse.h: fused and folded layer groups of the network engine (net.c calls these; internal). */
#ifndef FACECL_NN_NET_FUSE_H
#define FACECL_NN_NET_FUSE_H

#include "facecl/net.h"

/* Groups, found once from the graph (a layer's output read by exactly one later layer and not
 * the network's output or embedding, so nothing else sees the intermediate results; the add's
 * output of BN -> add may have other readers):
 *   inference  conv / linear -> BN [-> add(r computed before the conv)] [-> ReLU / ReLU6]: ONE
 *              conv with the BN folded into its weights and bias (cached; refolded when the
 *              parameters or running statistics may have changed), then in place on its output
 *              the activation, or the add and the activation in one pass (fcl_act_add_fwd);
 *              other BN -> act and BN -> add [-> act]: one fcl_bn2d_act_fwd_wg;
 *   training   BN -> act and BN -> add(other input computed before the BN) [-> act], act ReLU
 *              or ReLU6, for BN layers at or after the frozen prefix and without data-parallel
 *              BN hooks: fcl_bn2d_act_fwd_wg, and fcl_bn2d_act_bwd_wg at the group's last layer
 *              (which reads the group's output for the mask: kept for the backward, net->
 *              keep_for_bwd / last_bwd_use adjusted here after fcl_net_liveness). Its dx and
 *              dres are overwritten, not accumulated, when they are the first contribution to that
 *              gradient (netp_din_first: the buffer is not zeroed first).
 * A group runs at its first layer and writes its last layer's output; the others are skipped.
 * On unless $FACECL_NO_FUSE is set to something other than 0 at creation, or
 * fcl_net_set_fusion(net, 0). */
fcl_status netf_create(fcl_net *net);
void netf_destroy(fcl_net *net);
/* Recomputes the training groups after the frozen prefix changed. */
void netf_replan(fcl_net *net);
/* The parameters or running statistics may have changed: refold before the next inference. */
void netf_touch(fcl_net *net);
/* Layer i of a forward: *done = 1 when its group ran it (i is a group's first layer) or will
 * have (a later member); 0: run it as usual. */
fcl_status netf_forward(fcl_net *net, int i, int training, int *done);
/* Layer i of the backward (its output gradient exists): *done = 1 when i is the last layer of a
 * group of the last forward and the group's backward ran. */
fcl_status netf_backward(fcl_net *net, int i, int *done);
/* How many groups the forward of this mode runs, and how many of them include a residual add
 * (tests). */
int netf_count(const fcl_net *net, int training);
int netf_count_adds(const fcl_net *net, int training);

#endif
