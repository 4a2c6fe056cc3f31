#!/usr/bin/env bash
# The official DP-LDM CIFAR-10 recipe's shape on a GPU, with the same commands as the CPU pipeline and bigger configs
# (configs/gpu/cifar10_*.yaml): KL autoencoder f2 (32x32x3 -> 16x16x3), a 4.3M-parameter UNet with 16 transformer
# blocks, DP fine-tuning of blocks 9..16 on CIFAR-10 at epsilon 10 and 1, then 60,000 samples, accuracy and FID.
# Not run in CI. Every stage resumes when the script is run again. Usage:
#   DPLDM_DATA=../shared/data tools/gpu_cifar10.sh [OUT]        # OUT defaults to runs/gpu/cifar10
set -euo pipefail
OUT=${1:-runs/gpu/cifar10}
DPLDM=${DPLDM:-dpldm}
CLASSIFIER=${CLASSIFIER:-all}          # DPImageBench's three (ResNet-110, WRN-40-4, ResNeXt-29); resnet20 is quicker

$DPLDM train-autoencoder --config gpu/cifar10_autoencoder --out "$OUT/autoencoder" --device cuda
$DPLDM pretrain --config gpu/cifar10_ldm --out "$OUT/ldm" --device cuda --set "autoencoder=$OUT/autoencoder/autoencoder"
$DPLDM sample --model "$OUT/ldm/model" --out "$OUT/public_samples" --n-per-class 10 --steps 200 --guidance 3 --device cuda

for EPS in 10 1; do
  RUN="$OUT/eps$EPS"
  $DPLDM finetune --config gpu/cifar10_finetune --out "$RUN/finetune" --device cuda \
    --set "public_model=$OUT/ldm/model" "dp.epsilon=$EPS"
  $DPLDM sample --model "$RUN/finetune/model" --out "$RUN/samples" --n-per-class 6000 --steps 200 --guidance 3 \
    --device cuda
  $DPLDM evaluate accuracy --synthetic "$RUN/samples/samples.npz" --dataset cifar10 --model "$RUN/finetune" \
    --classifier "$CLASSIFIER" --epsilon "$EPS" --device cuda --out "$RUN/finetune/metrics.json"
  $DPLDM evaluate fid --synthetic "$RUN/samples/samples.npz" --dataset cifar10 --n 10000 \
    --out "$RUN/finetune/metrics.json"
  $DPLDM report "$RUN/finetune"
done
