/* Macros and thread-locals that bindgen cannot see as functions. No logic here. */
#ifndef RVS_DPDK_SHIM_H
#define RVS_DPDK_SHIM_H

/* rte_errno is a per-lcore (thread-local) variable behind a macro. */
int rvs_rte_errno(void);
void rvs_rte_errno_set(int value);

/* Constants that are macros over expressions. */
unsigned int rvs_lcore_id_any(void);
unsigned short rvs_mbuf_default_buf_size(void);
unsigned int rvs_max_ethports(void);
/* RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP (function-like macros inside). */
unsigned long long rvs_eth_rss_l3_l4(void);

/* The mbuf's l2_len and l3_len (bit-fields), which the reassembler reads. */
struct rte_mbuf;
void rvs_mbuf_set_l2_l3_len(struct rte_mbuf *m, unsigned short l2, unsigned short l3);

#endif
