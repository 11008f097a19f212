/* See shim.h: one-line accessors for DPDK macros. */
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include "shim.h"

int rvs_rte_errno(void) { return rte_errno; }
void rvs_rte_errno_set(int value) { rte_errno = value; }
unsigned int rvs_lcore_id_any(void) { return LCORE_ID_ANY; }
unsigned short rvs_mbuf_default_buf_size(void) { return RTE_MBUF_DEFAULT_BUF_SIZE; }
unsigned int rvs_max_ethports(void) { return RTE_MAX_ETHPORTS; }
unsigned long long rvs_eth_rss_l3_l4(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP; }
void rvs_mbuf_set_l2_l3_len(struct rte_mbuf *m, unsigned short l2, unsigned short l3) { m->l2_len = l2; m->l3_len = l3; }
