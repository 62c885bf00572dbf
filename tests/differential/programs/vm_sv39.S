/* Sv39 translation from S-mode: A/D updates, permission and validity page faults, SUM, MXR,
   sfence.vma, misaligned superpages, non-canonical addresses (body in vm_paging.inc). */
#include "common.h"
#define SATP_MODE 8
#define LEVELS 3
#include "vm_paging.inc"
