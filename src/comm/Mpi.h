// MPI's C API, the only one ringtrain uses: Open MPI's and MPICH's C++ bindings (deprecated since
// MPI 2.2, removed in 3.0) stay out, and with them the link to libmpi_cxx.
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>
