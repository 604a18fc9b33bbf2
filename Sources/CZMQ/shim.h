#ifndef VLS_CZMQ_SHIM_H
#define VLS_CZMQ_SHIM_H
// ZeroMQ (Debian libzmq3-dev): the sockets of the Jupyter kernel.
#include <zmq.h>
#endif
