// MPI_CHECK(call): turns an MPI error code into an InternalError carrying file:line and MPI's text.
#pragma once

#include "comm/Mpi.h"

#include <string>

#include "ringtrain/util/Error.h"

namespace ringtrain::comm::detail {

inline std::string mpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

}  // namespace ringtrain::comm::detail

#define MPI_CHECK(call)                                                                 \
  do {                                                                                  \
    int mpi_check_code_ = (call);                                                       \
    RINGTRAIN_CHECK(                                                                    \
        mpi_check_code_ == MPI_SUCCESS,                                                 \
        #call " failed: " << ::ringtrain::comm::detail::mpiErrorText(mpi_check_code_)); \
  } while (false)
