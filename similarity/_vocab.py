"""Names of the torch API that the tokenizer keeps verbatim (`similarity.tokens`).

Why a frozen list and not `dir(torch)` at run time: the report must not depend on which torch
(if any) the machine running it has, and importing torch costs seconds. Two students calling
`nn.BatchNorm2d` is no evidence, but it is structure: keeping these names (while user names
become one placeholder) lets `nn.Conv2d(...)` and `nn.Linear(...)` stay different tokens.

Generated from torch 2.13.0+cpu: the public names (two characters or more) of `torch`,
`torch.nn`, `torch.nn.functional`, `torch.nn.init`, `torch.Tensor` and `torch.nn.Module`, plus
the instance attributes `weight`, `bias`, `running_mean`, `running_var`. Regenerate with
`python -m similarity._vocab` (prints the new list) when the course moves to a torch with a
notably different API; old and new lists give slightly different fingerprints, so compare
a class with one list only.
"""
from __future__ import annotations

TORCH_NAMES: frozenset[str] = frozenset("""
AVG AcceleratorError AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d
AdaptiveLogSoftmaxWithLoss AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d AggregationType
AliasDb AlphaDropout AnyType Argument ArgumentSpec AvgPool1d AvgPool2d AvgPool3d AwaitType
BCELoss BCEWithLogitsLoss BFloat16Storage BFloat16Tensor BatchNorm1d BatchNorm2d BatchNorm3d
BenchmarkConfig BenchmarkExecutionStats Bilinear Block BoolStorage BoolTensor BoolType
BroadcastingList1 BroadcastingList2 BroadcastingList3 Buffer BufferDict ByteStorage ByteTensor
CELU CTCLoss CallStack Callable Capsule ChannelShuffle CharStorage CharTensor CircularPad1d
CircularPad2d CircularPad3d ClassType Code CompilationUnit CompleteArgumentSpec
ComplexDoubleStorage ComplexFloatStorage ComplexType ConcreteModuleType
ConcreteModuleTypeBuilder ConstantPad1d ConstantPad2d ConstantPad3d Container Conv1d Conv2d
Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d CosineEmbeddingLoss CosineSimilarity
CrossEntropyLoss CrossMapLRN2d DType DataParallel DeepCopyMemoTable
DeserializationStorageContext DeviceObjType DictType DisableTorchFunction
DisableTorchFunctionSubclass DispatchKey DispatchKeySet DoubleStorage DoubleTensor Dropout
Dropout1d Dropout2d Dropout3d ELU Embedding EmbeddingBag EnumType ErrorReport Event
ExcludeDispatchKeyGuard ExecutionPlan FatalError FeatureAlphaDropout FileCheck Flatten
FloatStorage FloatTensor FloatType Fold FractionalMaxPool2d FractionalMaxPool3d FunctionSchema
Future FutureType GELU GLU GRID_SAMPLE_INTERPOLATION_MODES GRID_SAMPLE_PADDING_MODES GRU GRUCell
GaussianNLLLoss Generator GradScaler Gradient Graph GraphExecutorState GroupNorm HalfStorage
HalfTensor Hardshrink Hardsigmoid Hardswish Hardtanh HingeEmbeddingLoss HuberLoss IODescriptor
Identity InferredType InstanceNorm1d InstanceNorm2d InstanceNorm3d IntStorage IntTensor IntType
InterfaceType JITException KLDivLoss L1Loss LPPool1d LPPool2d LPPool3d LSTM LSTMCell LayerNorm
LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d LazyConv1d LazyConv2d LazyConv3d
LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d LazyInstanceNorm1d
LazyInstanceNorm2d LazyInstanceNorm3d LazyLinear LeakyReLU Linear LinearCrossEntropyLoss
LinearCrossEntropyOptions ListType LiteScriptModule Literal LocalResponseNorm LockingLogger
LogSigmoid LogSoftmax LoggerBase LongStorage LongTensor MSELoss MarginRankingLoss MaxPool1d
MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d Mish Module ModuleDict ModuleList
MultiLabelMarginLoss MultiLabelSoftMarginLoss MultiMarginLoss MultiheadAttention NLLLoss
NLLLoss2d Node NoneType NoopLogger NumberType OperatorInfo Optional OptionalType
OutOfMemoryError PRIVATE_OPS PReLU PairwiseDistance ParamSpec Parameter ParameterDict
ParameterList PixelShuffle PixelUnshuffle PoissonNLLLoss PyObjectType PyTorchFileReader
PyTorchFileWriter QInt32Storage QInt8Storage QUInt2x4Storage QUInt4x2Storage QUInt8Storage
RMSNorm RNN RNNBase RNNCell RNNCellBase RReLU RRefType ReLU ReLU6 ReflectionPad1d
ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d ReplicationPad3d SELU SUM
ScalingType ScriptClass ScriptClassFunction ScriptDict ScriptDictIterator ScriptDictKeyIterator
ScriptFunction ScriptList ScriptListIterator ScriptMethod ScriptModule ScriptModuleSerializer
ScriptObject ScriptObjectProperty Sequential SerializationStorageContext ShortStorage
ShortTensor SiLU Sigmoid Size SmoothL1Loss SoftMarginLoss Softmax Softmax2d Softmin Softplus
Softshrink Softsign StaticModule Storage StorageBase Stream StreamObjType StringType SwizzleType
SymBool SymBoolType SymFloat SymInt SymIntType SyncBatchNorm TYPE_CHECKING T_destination Tag
Tanh Tanhshrink Tensor TensorType Threshold ThroughputBenchmark TracingState Transformer
TransformerDecoder TransformerDecoderLayer TransformerEncoder TransformerEncoderLayer
TripletMarginLoss TripletMarginWithDistanceLoss TupleType Type TypeVar TypedStorage
USE_GLOBAL_DEPS USE_RTLD_GLOBAL_WITH_LIBTORCH Unflatten Unfold UninitializedBuffer
UninitializedParameter UnionType UntypedStorage Upsample UpsamplingBilinear2d
UpsamplingNearest2d Use Value ZeroPad1d ZeroPad2d ZeroPad3d abs abs_ absolute absolute_
accelerator acos acos_ acosh acosh_ adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
adaptive_max_pool1d adaptive_max_pool1d_with_indices adaptive_max_pool2d
adaptive_max_pool2d_with_indices adaptive_max_pool3d adaptive_max_pool3d_with_indices add add_
add_module addbmm addbmm_ addcdiv addcdiv_ addcmul addcmul_ addmm addmm_ addmv addmv_ addr addr_
adjoint affine_grid affine_grid_generator alias_copy all allclose alpha_dropout alpha_dropout_
amax amin aminmax amp angle any ao apply apply_ arange arccos arccos_ arccosh arccosh_ arcsin
arcsin_ arcsinh arcsinh_ arctan arctan2 arctan2_ arctan_ arctanh arctanh_
are_deterministic_algorithms_enabled argmax argmin argsort argwhere as_strided as_strided_
as_strided_copy as_strided_scatter as_subclass as_tensor asarray asin asin_ asinh asinh_
assert_int_or_pair atan atan2 atan2_ atan_ atanh atanh_ atleast_1d atleast_2d atleast_3d
attention autocast autocast_decrement_nesting autocast_increment_nesting autograd avg_pool1d
avg_pool2d avg_pool3d backends backward baddbmm baddbmm_ bartlett_window batch_norm
batch_norm_backward_elemt batch_norm_backward_reduce batch_norm_elemt batch_norm_gather_stats
batch_norm_gather_stats_with_counts batch_norm_stats batch_norm_update_stats bernoulli
bernoulli_ bfloat16 bias bilinear binary_cross_entropy binary_cross_entropy_with_logits bincount
binomial bit bits16 bits1x8 bits2x4 bits4x2 bits8 bitwise_and bitwise_and_ bitwise_left_shift
bitwise_left_shift_ bitwise_not bitwise_not_ bitwise_or bitwise_or_ bitwise_right_shift
bitwise_right_shift_ bitwise_xor bitwise_xor_ blackman_window block_diag bmm bool
boolean_dispatch broadcast_shapes broadcast_tensors broadcast_to bucketize buffers builtins byte
calculate_gain call_super_init can_cast cartesian_prod cat cauchy_ ccol_indices
ccol_indices_copy cdist cdouble ceil ceil_ celu celu_ cfloat chain_matmul chalf channel_shuffle
channels_last channels_last_3d char children cholesky cholesky_inverse cholesky_solve
choose_qparams_optimized chunk clamp clamp_ clamp_max clamp_max_ clamp_min clamp_min_ classes
classproperty clear_autocast_cache clip clip_ clone coalesce col_indices col_indices_copy
column_stack combinations common_types compile compiled_with_cxx11_abi compiler complex
complex128 complex32 complex64 concat concatenate cond conj conj_physical conj_physical_
const_data_ptr constant constant_ constant_pad_nd contiguous contiguous_format conv1d conv2d
conv3d conv_tbc conv_transpose1d conv_transpose2d conv_transpose3d convolution copy_ copysign
copysign_ corrcoef cos cos_ cosh cosh_ cosine_embedding_loss cosine_similarity count_nonzero cov
cpp cpu cross cross_entropy crow_indices crow_indices_copy ctc_loss ctypes cuda
cudnn_affine_grid_generator cudnn_batch_norm cudnn_convolution cudnn_convolution_add_relu
cudnn_convolution_relu cudnn_convolution_transpose cudnn_grid_sampler cudnn_is_acceptable cummax
cummin cumprod cumprod_ cumsum cumsum_ cumulative_trapezoid data data_ptr dataclasses
default_generator deg2rad deg2rad_ dense_dim dequantize det detach detach_ detach_copy device
diag diag_embed diagflat diagonal diagonal_copy diagonal_scatter diff digamma digamma_ dim
dim_order dirac dirac_ dist distributed distributions div div_ divide divide_ dot double dropout
dropout1d dropout2d dropout3d dropout_ dsmm dsplit dstack dtype dump_patches eig einsum
element_size elu elu_ embedding embedding_bag embedding_renorm_ empty empty_like empty_permuted
empty_quantized empty_strided enable_grad eq eq_ equal erf erf_ erfc erfc_ erfinv erfinv_ eval
exp exp2 exp2_ exp_ expand expand_as expand_copy expm1 expm1_ exponential_ export extra_repr eye
eye_ factory_kwargs fake_quantize_per_channel_affine fake_quantize_per_tensor_affine
fbgemm_linear_fp16_weight fbgemm_linear_fp16_weight_fp32_activation fbgemm_linear_int8_weight
fbgemm_linear_int8_weight_fp32_activation fbgemm_linear_quantize_weight
fbgemm_pack_gemm_matrix_fp16 fbgemm_pack_quantized_matrix feature_alpha_dropout
feature_alpha_dropout_ feature_dropout feature_dropout_ fft fill fill_ fill_diagonal_ finfo fix
fix_ flatten flip fliplr flipud float float16 float32 float4_e2m1fn_x2 float64 float8_e4m3fn
float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu float_power float_power_ floor floor_
floor_divide floor_divide_ fmax fmin fmod fmod_ fold fork forward frac frac_
fractional_max_pool2d fractional_max_pool2d_with_indices fractional_max_pool3d
fractional_max_pool3d_with_indices frexp frobenius_norm from_dlpack from_file from_numpy
frombuffer full full_like func functional functools fused_moving_avg_obs_fake_quant futures fx
gather gaussian_nll_loss gcd gcd_ ge ge_ gelu geometric_ geqrf ger get_autocast_cpu_dtype
get_autocast_dtype get_autocast_gpu_dtype get_autocast_ipu_dtype get_autocast_xla_dtype
get_buffer get_default_device get_default_dtype get_deterministic_debug_mode get_device
get_device_module get_extra_state get_file_path get_float32_matmul_precision
get_num_interop_threads get_num_threads get_parameter get_rng_state get_submodule glob glu grad
grad_dtype grad_fn gradient greater greater_ greater_equal greater_equal_ grid_sample
grid_sampler grid_sampler_2d grid_sampler_3d group_norm grouped_mm gru gru_cell gt gt_
gumbel_softmax half hamming_window handle_torch_function hann_window hardshrink hardsigmoid
hardswish hardtanh hardtanh_ has_lapack has_mkl has_openmp has_spectral has_torch_function
has_torch_function_unary has_torch_function_variadic hash_tensor heaviside heaviside_
hinge_embedding_loss histc histogram histogramdd hsmm hsplit hspmm hstack hub huber_loss hypot
hypot_ i0 i0_ igamma igamma_ igammac igammac_ iinfo imag import_ir_module
import_ir_module_from_buffer importlib index index_add index_add_ index_copy index_copy_
index_fill index_fill_ index_put index_put_ index_reduce index_reduce_ index_select indices
indices_copy inf inference_mode init init_num_threads initial_seed inner inspect instance_norm
int int1 int16 int2 int3 int32 int4 int5 int6 int64 int7 int8 int_repr interpolate intrinsic
inverse ipu is_anomaly_check_nan_enabled is_anomaly_enabled is_autocast_cache_enabled
is_autocast_cpu_enabled is_autocast_enabled is_autocast_ipu_enabled is_autocast_xla_enabled
is_coalesced is_complex is_conj is_contiguous is_cpu is_cuda
is_deterministic_algorithms_warn_only_enabled is_distributed is_floating_point is_grad_enabled
is_inference is_inference_mode_enabled is_ipu is_leaf is_maia is_meta is_mkldnn is_mps is_mtia
is_neg is_nested is_nonzero is_pinned is_quantized is_same_size is_set_to is_shared is_signed
is_sparse is_sparse_csr is_storage is_tensor is_vulkan is_vulkan_available
is_warn_always_enabled is_xla is_xpu isclose isfinite isin isinf isnan isneginf isposinf isreal
istft item itemsize jagged jit kaiming_normal kaiming_normal_ kaiming_uniform kaiming_uniform_
kaiser_window kl_div kron kthvalue l1_loss layer_norm layout lcm lcm_ ldexp ldexp_ le le_
leaky_relu leaky_relu_ legacy_contiguous_format lerp lerp_ less less_ less_equal less_equal_
lgamma lgamma_ library linalg linear linear_cross_entropy linspace load load_state_dict lobpcg
local_response_norm log log10 log10_ log1p log1p_ log2 log2_ log_ log_normal_ log_softmax
logaddexp logaddexp2 logcumsumexp logdet logical_and logical_and_ logical_not logical_not_
logical_or logical_or_ logical_xor logical_xor_ logit logit_ logsigmoid logspace logsumexp long
lp_pool1d lp_pool2d lp_pool3d lstm lstm_cell lstsq lt lt_ lu lu_solve lu_unpack mH mT
manual_seed map2_ map_ margin_ranking_loss masked masked_fill masked_fill_ masked_scatter
masked_scatter_ masked_select math matmul matrix_exp matrix_power matrix_rank max max_pool1d
max_pool1d_with_indices max_pool2d max_pool2d_with_indices max_pool3d max_pool3d_with_indices
max_unpool1d max_unpool2d max_unpool3d maximum mean median memory_format
merge_type_from_type_comment meshgrid min minimum miopen_batch_norm miopen_convolution
miopen_convolution_add_relu miopen_convolution_relu miopen_convolution_transpose miopen_ctc_loss
miopen_depthwise_convolution miopen_rnn mish mkldnn_adaptive_avg_pool2d mkldnn_convolution
mkldnn_linear_backward_weights mkldnn_max_pool2d mkldnn_max_pool3d mkldnn_rnn_layer mm mode
module_load modules monitor moveaxis movedim mps mse_loss msort mtia mul mul_
multi_head_attention_forward multi_margin_loss multilabel_margin_loss
multilabel_soft_margin_loss multinomial multiply multiply_ multiprocessing mv mvlgamma mvlgamma_
name named_buffers named_children named_modules named_parameters nan nan_to_num nan_to_num_
nanmean nanmedian nanquantile nansum narrow narrow_copy native_batch_norm native_channel_shuffle
native_dropout native_group_norm native_layer_norm native_norm nbytes ndim ndimension ne ne_ neg
neg_ negative negative_ nelement nested new new_empty new_empty_strided new_full new_ones
new_tensor new_zeros newaxis nextafter nextafter_ nll_loss nn no_grad nonzero nonzero_static
norm norm_except_dim normal normal_ normalize not_equal not_equal_ np nuclear_norm numel numpy
one_hot ones ones_ ones_like ops optim orgqr ormqr orthogonal orthogonal_ os outer output_nr
overrides package pad pairwise_distance parallel parameter parameters parse_ir parse_schema
parse_type_comment pca_lowrank pdist per_channel_affine per_channel_affine_float_qparams
per_channel_symmetric per_tensor_affine per_tensor_symmetric permute permute_copy pi pin_memory
pinverse pixel_shuffle pixel_unshuffle platform poisson poisson_nll_loss polar polygamma
polygamma_ positive pow pow_ prelu prepare_multiprocessing_environment preserve_format prod
profiler profiler_allow_cudagraph_cupti_lazy_reinit_cuda12 promote_types put put_
q_per_channel_axis q_per_channel_scales q_per_channel_zero_points q_scale q_zero_point qat
qint32 qint8 qr qscheme quantile quantizable quantization quantize_per_channel
quantize_per_tensor quantize_per_tensor_dynamic quantized quantized_batch_norm quantized_gru
quantized_gru_cell quantized_lstm quantized_lstm_cell quantized_max_pool1d quantized_max_pool2d
quantized_max_pool3d quantized_rnn_relu_cell quantized_rnn_tanh_cell quasirandom quint2x4
quint4x2 quint8 rad2deg rad2deg_ rand rand_like randint randint_like randn randn_like random
random_ randperm range ravel real reciprocal reciprocal_ record_stream register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter
register_post_accumulate_grad_hook register_state_dict_post_hook register_state_dict_pre_hook
reinforce relu relu6 relu_ remainder remainder_ renorm renorm_ repeat repeat_interleave
reproducibility_notes requires_grad requires_grad_ reshape reshape_as resize resize_ resize_as
resize_as_ resize_as_sparse_ resolve_conj resolve_neg result_type retain_grad retains_grad
return_types rms_norm rnn_relu rnn_relu_cell rnn_tanh rnn_tanh_cell roll rot90 round round_
row_indices row_indices_copy row_stack rrelu rrelu_ rsqrt rsqrt_ rsub running_mean running_var
saddmm save scalar_tensor scaled_dot_product_attention scaled_grouped_mm scaled_mm scatter
scatter_ scatter_add scatter_add_ scatter_reduce scatter_reduce_ searchsorted seed
segment_reduce select select_copy select_scatter selu selu_ serialization set_
set_anomaly_enabled set_autocast_cache_enabled set_autocast_cpu_dtype set_autocast_cpu_enabled
set_autocast_dtype set_autocast_enabled set_autocast_gpu_dtype set_autocast_ipu_dtype
set_autocast_ipu_enabled set_autocast_xla_dtype set_autocast_xla_enabled set_default_device
set_default_dtype set_default_tensor_type set_deterministic_debug_mode set_extra_state
set_float32_matmul_precision set_flush_denormal set_grad_enabled set_num_interop_threads
set_num_threads set_printoptions set_rng_state set_submodule set_warn_always sgn sgn_ shape
share_memory share_memory_ short sigmoid sigmoid_ sign sign_ signal signbit silu sin sin_ sinc
sinc_ sinh sinh_ size slice_copy slice_inverse slice_scatter slogdet smm smooth_l1_loss
soft_margin_loss softmax softmin softplus softshrink softsign solve sort sparse sparse_
sparse_bsc sparse_bsc_tensor sparse_bsr sparse_bsr_tensor sparse_compressed_tensor sparse_coo
sparse_coo_tensor sparse_csc sparse_csc_tensor sparse_csr sparse_csr_tensor sparse_dim
sparse_mask sparse_resize_ sparse_resize_and_clear_ sparse_support_notes special split
split_copy split_with_sizes split_with_sizes_copy spmm sqrt sqrt_ square square_ squeeze
squeeze_ squeeze_copy sspaddmm stack state_dict std std_mean stft storage storage_offset
storage_type stride strided sub sub_ subtract subtract_ sum sum_to_size svd svd_lowrank swapaxes
swapaxes_ swapdims swapdims_ sym_constrain_range sym_constrain_range_for_size sym_float
sym_fresh_size sym_int sym_ite sym_max sym_min sym_not sym_sqrt sym_sum symeig sys t_ t_copy
take take_along_dim tan tan_ tanh tanh_ tanhshrink tensor tensor_split tensordot testing
textwrap tf32_notes thread_safe_generator threading threshold threshold_ tile to to_dense
to_dlpack to_empty to_mkldnn to_padded_tensor to_sparse to_sparse_bsc to_sparse_bsr
to_sparse_coo to_sparse_csc to_sparse_csr tolist topk torch torch_version trace train transpose
transpose_ transpose_copy trapezoid trapz triangular_solve tril tril_ tril_indices
triplet_margin_loss triplet_margin_with_distance_loss triu triu_ triu_indices true_divide
true_divide_ trunc trunc_ trunc_normal_ type type_as typename types uint1 uint16 uint2 uint3
uint32 uint4 uint5 uint6 uint64 uint7 uint8 unbind unbind_copy unflatten unfold unfold_copy
uniform uniform_ unify_type_list unique unique_consecutive unravel_index unsafe_chunk
unsafe_split unsafe_split_with_sizes unsqueeze unsqueeze_ unsqueeze_copy untyped_storage
upsample upsample_bilinear upsample_nearest use_deterministic_algorithms utils values
values_copy vander var var_mean vdot version view view_as view_as_complex view_as_complex_copy
view_as_real view_as_real_copy view_copy vmap volatile vsplit vstack wait warnings weight where
while_loop windows xavier_normal xavier_normal_ xavier_uniform xavier_uniform_ xlogy xlogy_ xpu
zero_ zero_grad zeros zeros_ zeros_like
""".split())


def _generate() -> str:
    """The list as this machine's torch would give it (needs torch; used by hand only)."""
    import torch
    import torch.nn.functional
    import torch.nn.init

    modules = [torch, torch.nn, torch.nn.functional, torch.nn.init, torch.Tensor, torch.nn.Module]
    found = {n for m in modules for n in dir(m) if not n.startswith("_") and len(n) > 1 and n.isidentifier()}
    return " ".join(sorted(found | {"weight", "bias", "running_mean", "running_var"}))


if __name__ == "__main__":
    print(_generate())
