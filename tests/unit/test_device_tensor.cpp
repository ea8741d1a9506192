// Tensors on a device other than the host, through a DeviceMemory that keeps host memory behind
// the device wall (what a GPU backend registers): views, copies and conversions go through the
// device's memory, host element access is refused, and ops route to the device's backend.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "ops/backend.h"
#include "tensor/device.h"
#include "tensor/half.h"
#include "tensor/tensor.h"

namespace ipa {
namespace {

// Host memory posing as a device; counts what the tensor layer asks of it.
class HostBackedMemory : public DeviceMemory {
 public:
  std::map<void*, size_t> live;
  int uploads = 0, downloads = 0, converts = 0;

  void* allocate(Device, size_t bytes) override {
    void* p = ::operator new(bytes);
    live[p] = bytes;
    return p;
  }
  void release(Device, void* p, size_t bytes) override {
    EXPECT_EQ(live.at(p), bytes);
    live.erase(p);
    ::operator delete(p);
  }
  void upload(Device, void* dst, const void* src, size_t bytes) override {
    ++uploads;
    std::memcpy(dst, src, bytes);
  }
  void download(Device, void* dst, const void* src, size_t bytes) override {
    ++downloads;
    std::memcpy(dst, src, bytes);
  }
  void fill_zero(Device, void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }
  void copy_convert(Device, void* dst, DType dst_dtype, const void* src, DType src_dtype,
                    const int64_t* shape, const int64_t* strides, int rank) override {
    ++converts;
    // Reuse the host code: a host view of the "device" bytes, converted on the host.
    Tensor view = Tensor::view_of(nullptr, src, Shape(shape, shape + rank), src_dtype,
                                  Shape(strides, strides + rank));
    Tensor host = view.to(dst_dtype);
    std::memcpy(dst, host.raw(), host.nbytes());
  }
};

class DeviceTensor : public ::testing::Test {
 protected:
  void SetUp() override {
    register_device_memory(DeviceType::Emulated, &memory_);
    ops::register_backend(DeviceType::Emulated, nullptr);  // tests/support's may be registered
  }
  void TearDown() override {
    register_device_memory(DeviceType::Emulated, nullptr);
    EXPECT_TRUE(memory_.live.empty()) << "device memory leaked";
  }
  HostBackedMemory memory_;
  const Device dev_{DeviceType::Emulated, 0};
};

TEST(Device, ParsesNamesAndRefusesOthers) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  EXPECT_EQ(parse_device("cuda"), (Device{DeviceType::CUDA, 0}));
  EXPECT_EQ(parse_device("cuda:3"), (Device{DeviceType::CUDA, 3}));
  EXPECT_EQ(parse_device("cuda:3").name(), "cuda:3");
  for (const char* bad : {"", "gpu", "cuda:", "cuda:-1", "cuda:1x", "cpu:0", "CUDA"}) {
    try {
      parse_device(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + std::string(bad) + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Device, UnregisteredDeviceIsAClearError) {
  try {
    Tensor::empty_on(Device{DeviceType::CUDA, 0}, {2});
    ADD_FAILURE() << "allocated on a device nobody registered";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops::backend(Device{DeviceType::CUDA, 1}), Error);
}

TEST_F(DeviceTensor, RoundTripsThroughTheDevice) {
  const Tensor host = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor on_dev = host.to(dev_);
  EXPECT_EQ(on_dev.device(), dev_);
  EXPECT_FALSE(on_dev.on_host());
  EXPECT_EQ(memory_.uploads, 1);
  EXPECT_EQ(on_dev.describe(), "F32[2, 3] on emulated:0");
  const Tensor back = on_dev.to(Device{});
  EXPECT_TRUE(back.on_host());
  EXPECT_EQ(back.to_floats(), host.to_floats());
  EXPECT_EQ(on_dev.to_floats(), host.to_floats());  // copies to the host
}

TEST_F(DeviceTensor, HostAccessIsRefused) {
  Tensor t = Tensor::zeros_on(dev_, {4});
  EXPECT_THROW(t.data<float>(), Error);
  EXPECT_THROW(t.raw(), Error);
  EXPECT_THROW(t.raw_mutable(), Error);
  EXPECT_THROW(t.item_f32({0}), Error);
  EXPECT_EQ(t.to_floats(), std::vector<float>(4, 0.f));
}

TEST_F(DeviceTensor, ViewsAndCopiesStayOnTheDevice) {
  const Tensor host = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor t = host.to(dev_);
  const Tensor tr = t.transpose(0, 1).contiguous();  // a strided copy on the device
  EXPECT_EQ(tr.device(), dev_);
  EXPECT_EQ(memory_.converts, 1);
  EXPECT_EQ(tr.to_floats(), host.transpose(0, 1).contiguous().to_floats());
  const Tensor row = t.select(0, 1).clone();
  EXPECT_EQ(row.to_floats(), (std::vector<float>{4, 5, 6}));
  const Tensor bf = t.narrow(1, 1, 2).to(DType::BF16);
  EXPECT_EQ(bf.device(), dev_);
  EXPECT_EQ(bf.dtype(), DType::BF16);
  EXPECT_EQ(bf.to_floats(), (std::vector<float>{2, 3, 5, 6}));
  EXPECT_EQ(t.reshape({3, 2}).device(), dev_);
}

TEST_F(DeviceTensor, OpsOnMixedDevicesNameBoth) {
  const Tensor a = Tensor::zeros({2}), b = Tensor::zeros_on(dev_, {2});
  EXPECT_EQ(ops::backend_for("add", {&a, &a}), nullptr);
  try {
    ops::backend_for("add", {&a, &b});
    ADD_FAILURE() << "mixed devices accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("add"), std::string::npos) << msg;
    EXPECT_NE(msg.find("emulated:0"), std::string::npos) << msg;
  }
  // No backend registered for the emulated device in this test: a clear error.
  EXPECT_THROW(ops::backend_for("add", {&b, &b}), Error);
}

}  // namespace
}  // namespace ipa
