"""Pretrained-weight import (edgevision.models.pretrained), one source at a time.

Each source's file is rebuilt here from a small replica of the *publishing* code's module
tree (torchvision's MobileNetV2/ResNet, the official DDRNet-23-slim classification network,
YOLACT/YolactEdge, Ultralytics YOLOv5 v6), so its tensor names and shapes are those of the
real files; no network. Where the replica also has the source's forward pass, the imported
model must compute the same features (the mapping puts every tensor in the right place, not
just one of the right shape).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from edgevision.errors import CheckpointError, ConfigError  # noqa: E402
from edgevision.models.pretrained import (  # noqa: E402
    convert,
    detect_source,
    import_weights,
    read_weights,
)
from edgevision.registry import create_model  # noqa: E402

X = 64  # input side of the numerical checks
COCO = [f"class{i}" for i in range(80)]  # 80 classes, as the COCO-trained files have


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models run on one thread (see tests/conftest.py)."""


def _save(state: dict, path) -> str:
    torch.save({k: v.detach().clone() for k, v in state.items()}, path)
    return str(path)


# ------------------------------------------------------------------------------------------
# torchvision MobileNetV2 (the replica is the torchvision_mobilenetv2 fixture, tests/conftest.py)
# ------------------------------------------------------------------------------------------
def test_torchvision_mobilenetv2_into_liteseg_computes_the_same_features(
    tmp_path, torchvision_mobilenetv2
):
    tv = torchvision_mobilenetv2()
    path = _save(tv.state_dict(), tmp_path / "mobilenet_v2-b0353104.pth")
    model = create_model("liteseg_mobilenetv2").eval()  # output stride 32, with last_conv
    report = import_weights(model, path)
    assert report.source == "torchvision-mobilenetv2"
    assert report.backbone_matched == report.backbone_total > 250
    assert report.unused == ["classifier.1.weight", "classifier.1.bias"]
    assert report.mismatched == []
    assert all(not k.startswith("backbone.") for k in report.missing)
    x = torch.randn(1, 3, X, X)
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x)["c5"], tv.features(x))


def test_torchvision_mobilenetv2_into_yolact_mobilenetv2_through_its_split_backbone(
    tmp_path, torchvision_mobilenetv2
):
    tv = torchvision_mobilenetv2(seed=1)
    path = _save(tv.state_dict(), tmp_path / "mbv2.pth")
    model = create_model("yolact_mobilenetv2").eval()
    report = import_weights(model, path)
    assert report.backbone_matched == report.backbone_total
    assert "features.18.0.weight" in report.unused  # YOLACT's MobileNetV2 has no last conv
    x = torch.randn(1, 3, X, X)
    with torch.no_grad():
        _, c5 = model.upper(model.lower(x))
        torch.testing.assert_close(c5, tv.features[:18](x))


def test_deeplab_gets_every_backbone_tensor_and_keeps_its_head(tmp_path, torchvision_mobilenetv2):
    path = _save(torchvision_mobilenetv2().state_dict(), tmp_path / "mbv2.pth")
    model = create_model("deeplabv3plus_mobilenetv2")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = import_weights(model, path)
    assert report.backbone_matched == report.backbone_total
    assert "features.18.0.weight" in report.unused  # DeepLabV3+ taps C5 before the 1×1 conv
    assert report.missing and all(not k.startswith("backbone.") for k in report.missing)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in report.missing)
    assert not torch.equal(before["backbone.stem.0.weight"], after["backbone.stem.0.weight"])


def test_a_narrower_backbone_is_refused_in_one_line_and_left_unchanged(
    tmp_path, torchvision_mobilenetv2
):
    path = _save(torchvision_mobilenetv2().state_dict(), tmp_path / "mbv2.pth")
    model = create_model("yolo_ret_m075")  # MobileNetV2 x0.75: every shape differs
    before = model.state_dict()["backbone.stem.0.weight"].clone()
    with pytest.raises(CheckpointError) as e:
        import_weights(model, path)
    msg = str(e.value)
    assert "\n" not in msg and "need >= 95%" in msg and "shape mismatch" in msg
    assert torch.equal(model.state_dict()["backbone.stem.0.weight"], before)


@pytest.mark.parametrize(
    ("name", "fits"),
    [("yolo_ret_m100", True), ("yolo_ret_m140", False), ("yolact_mobilenetv2_320", False)],
)
def test_width_1_imagenet_weights_fit_width_1_models_only(
    tmp_path, torchvision_mobilenetv2, name, fits
):
    path = _save(torchvision_mobilenetv2().state_dict(), tmp_path / "mbv2.pth")
    model = create_model(name)
    if not fits:
        with pytest.raises(CheckpointError, match="need >= 95%"):
            import_weights(model, path)
        return
    report = import_weights(model, path)  # truncated: the last blocks are left unused
    assert report.backbone_matched == report.backbone_total
    assert "features.17.conv.3.running_var" in report.unused


def test_a_model_without_such_a_backbone_is_refused(tmp_path, torchvision_mobilenetv2):
    path = _save(torchvision_mobilenetv2().state_dict(), tmp_path / "mbv2.pth")
    with pytest.raises(CheckpointError, match="no place in ddrnet23_slim"):
        import_weights(create_model("ddrnet23_slim"), path, source="torchvision-mobilenetv2")


# ------------------------------------------------------------------------------------------
# torchvision / timm ResNet (torchvision/models/resnet.py names; timm uses the same)
# ------------------------------------------------------------------------------------------
class TvBottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


def _tv_layers(counts: tuple[int, ...]) -> list[nn.Sequential]:
    layers, cin = [], 64
    for i, n in enumerate(counts):
        planes = 64 * 2**i
        blocks = [
            TvBottleneck(
                cin if j == 0 else planes * 4, planes, (1 if i == 0 else 2) if j == 0 else 1
            )
            for j in range(n)
        ]
        cin = planes * 4
        layers.append(nn.Sequential(*blocks))
    return layers


class TvResNet(nn.Module):
    """torchvision.models.resnet50/101: ``conv1``, ``bn1``, ``layer1`` … ``layer4``, ``fc``."""

    def __init__(self, counts: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1, self.layer2, self.layer3, self.layer4 = _tv_layers(counts)
        self.fc = nn.Linear(2048, 1000)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def test_resnet50_into_yolact_r50_computes_the_same_c5(tmp_path, randomize):
    tv = randomize(TvResNet())
    path = _save(tv.state_dict(), tmp_path / "resnet50-0676ba61.pth")
    model = create_model("yolact_r50").eval()
    report = import_weights(model, path)
    assert report.source == "resnet"
    assert report.backbone_matched == report.backbone_total == 265
    assert report.unused == ["fc.weight", "fc.bias"]
    x = torch.randn(1, 3, X, X)
    with torch.no_grad():
        torch.testing.assert_close(model.upper(model.lower(x))[1], tv.features(x))


def test_timm_resnet101_safetensors_into_yolact_r101(tmp_path):
    from safetensors.torch import save_file

    with torch.device("meta"):  # shapes only; the file gets zeros of those shapes
        shapes = {k: v.shape for k, v in TvResNet((3, 4, 23, 3)).state_dict().items()}
    path = tmp_path / "model.safetensors"  # timm's resnet101.a1h_in1k on the HF hub
    save_file({k: torch.zeros(s) for k, s in shapes.items() if not k.endswith("tracked")}, path)
    model = create_model("yolact_r101")
    report = import_weights(model, path)
    assert report.backbone_matched == report.backbone_total == 520
    assert torch.count_nonzero(model.backbone_upper[1][0].body[0][0].weight) == 0


# ------------------------------------------------------------------------------------------
# official DDRNet-23-slim (ydhongHIT/DDRNet classification/DDRNet_23_slim.py names)
# ------------------------------------------------------------------------------------------
class DdrBasic(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride=1, downsample=None, no_relu=False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample, self.no_relu = downsample, no_relu

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out = out + (self.downsample(x) if self.downsample is not None else x)
        return out if self.no_relu else self.relu(out)


class DdrBottleneck(nn.Module):
    expansion = 2

    def __init__(self, cin, planes, stride=1, downsample=None, no_relu=False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 2)
        self.relu = nn.ReLU()
        self.downsample, self.no_relu = downsample, no_relu

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out)) + (self.downsample(x) if self.downsample is not None else x)
        return out if self.no_relu else self.relu(out)


def _ddr_layer(block, cin, planes, n, stride=1):
    down = None
    if stride != 1 or cin != planes * block.expansion:
        down = nn.Sequential(
            nn.Conv2d(cin, planes * block.expansion, 1, stride, bias=False),
            nn.BatchNorm2d(planes * block.expansion),
        )
    layers = [block(cin, planes, stride, down)]
    for i in range(1, n):
        layers.append(block(planes * block.expansion, planes, 1, no_relu=i == n - 1))
    return nn.Sequential(*layers)


def _bn_seq(*convs: tuple[int, int, int, int], relu_between: bool = True) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i, (cin, cout, k, s) in enumerate(convs):
        if i and relu_between:
            mods.append(nn.ReLU())
        mods += [nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*mods)


class DdrClassifier(nn.Module):
    """The official ImageNet DualResNet (planes=32, last_planes=1024): DDRNet23s_imagenet.pth."""

    def __init__(self, planes: int = 32) -> None:
        super().__init__()
        hi = planes * 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, planes, 3, 2, 1),  # with a bias, as published
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Conv2d(planes, planes, 3, 2, 1),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
        )
        self.relu = nn.ReLU()
        self.layer1 = _ddr_layer(DdrBasic, planes, planes, 2)
        self.layer2 = _ddr_layer(DdrBasic, planes, planes * 2, 2, 2)
        self.layer3 = _ddr_layer(DdrBasic, planes * 2, planes * 4, 2, 2)
        self.layer4 = _ddr_layer(DdrBasic, planes * 4, planes * 8, 2, 2)
        self.compression3 = _bn_seq((planes * 4, hi, 1, 1))
        self.compression4 = _bn_seq((planes * 8, hi, 1, 1))
        self.down3 = _bn_seq((hi, planes * 4, 3, 2))
        self.down4 = _bn_seq((hi, planes * 4, 3, 2), (planes * 4, planes * 8, 3, 2))
        self.layer3_ = _ddr_layer(DdrBasic, planes * 2, hi, 2)
        self.layer4_ = _ddr_layer(DdrBasic, hi, hi, 2)
        self.layer5_ = _ddr_layer(DdrBottleneck, hi, hi, 1)
        self.down5 = _bn_seq((planes * 4, planes * 8, 3, 2), (planes * 8, planes * 16, 3, 2))
        self.layer5 = _ddr_layer(DdrBottleneck, planes * 8, planes * 8, 1)
        self.last_layer = nn.Sequential(
            nn.Conv2d(planes * 16, 1024, 1, bias=False), nn.BatchNorm2d(1024), nn.ReLU()
        )
        self.linear = nn.Linear(1024, 1000)

    def high_branch(self, x: torch.Tensor) -> torch.Tensor:
        """The official forward up to ``layer5_`` (the high-resolution branch's end)."""
        size = [x.shape[-2] // 8, x.shape[-1] // 8]
        x = self.layer1(self.conv1(x))
        l1 = self.layer2(self.relu(x))
        x = self.layer3(self.relu(l1))
        l2 = x
        x_ = self.layer3_(self.relu(l1))
        x = x + self.down3(self.relu(x_))
        x_ = x_ + F.interpolate(self.compression3(self.relu(l2)), size=size, mode="bilinear")
        x = self.layer4(self.relu(x))
        x_ = self.layer4_(self.relu(x_))
        x_ = x_ + F.interpolate(self.compression4(self.relu(x)), size=size, mode="bilinear")
        return self.layer5_(self.relu(x_))


def test_official_ddrnet23_slim_imagenet_computes_the_same_high_branch(tmp_path, randomize):
    ref = randomize(DdrClassifier(), seed=3)
    # DataParallel-saved, nested under "state_dict" (the official loader strips "module.")
    path = tmp_path / "DDRNet23s_imagenet.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, path)
    model = create_model("ddrnet23_slim").eval()
    report = import_weights(model, path)
    assert report.source == "ddrnet23-slim"
    assert report.backbone_matched == report.backbone_total
    assert report.folded == ["conv1.0.bias", "conv1.3.bias"]  # exact: into the BN means
    assert {k.split(".")[0] for k in report.unused} == {"down5", "last_layer", "linear"}
    assert {k.split(".")[0] for k in report.missing} == {"dappm", "head", "aux_head"}
    seen: dict[str, torch.Tensor] = {}
    model.high["layer5"].register_forward_hook(lambda m, i, o: seen.setdefault("hi", o))
    x = torch.randn(1, 3, X, X)
    with torch.no_grad():
        model(x)
        # the ImageNet Bottleneck ends with a ReLU, the segmentation one without
        torch.testing.assert_close(F.relu(seen["hi"]), ref.high_branch(x))


# ------------------------------------------------------------------------------------------
# YOLACT / YolactEdge (dbolya/yolact, WisconsinAIVision/yolact_edge names)
# ------------------------------------------------------------------------------------------
class YolactPrediction(nn.Module):
    def __init__(self, classes: int = 81, priors: int = 3, protos: int = 32) -> None:
        super().__init__()
        self.upfeature = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1), nn.ReLU())
        self.bbox_layer = nn.Conv2d(256, priors * 4, 3, padding=1)
        self.conf_layer = nn.Conv2d(256, priors * classes, 3, padding=1)
        self.mask_layer = nn.Conv2d(256, priors * protos, 3, padding=1)


class YolactFPN(nn.Module):
    """YOLACT's FPN: layers stored in reverse level order."""

    def __init__(self, in_channels: list[int]) -> None:
        super().__init__()
        self.lat_layers = nn.ModuleList(nn.Conv2d(c, 256, 1) for c in reversed(in_channels))
        self.pred_layers = nn.ModuleList(nn.Conv2d(256, 256, 3, padding=1) for _ in in_channels)
        self.downsample_layers = nn.ModuleList(
            nn.Conv2d(256, 256, 3, padding=1, stride=2) for _ in range(2)
        )

    def forward(self, convouts: list[torch.Tensor]) -> list[torch.Tensor]:
        """dbolya/yolact ``FPN.forward`` (bilinear, ReLU on the prediction layers)."""
        out = [torch.zeros(1)] * len(convouts)
        x = torch.zeros(1)
        j = len(convouts)
        for lat in self.lat_layers:
            j -= 1
            if j < len(convouts) - 1:
                x = F.interpolate(
                    x, size=convouts[j].shape[-2:], mode="bilinear", align_corners=False
                )
            x = x + lat(convouts[j])
            out[j] = x
        j = len(convouts)
        for pred in self.pred_layers:
            j -= 1
            out[j] = F.relu(pred(out[j]))
        for down in self.downsample_layers:
            out.append(down(out[-1]))
        return out


def _proto_net() -> nn.Sequential:
    """YOLACT's ``make_net(256, mask_proto_net, include_last_relu=False)``."""
    c = lambda i, o, k: nn.Conv2d(i, o, k, padding=k // 2)  # noqa: E731
    r = nn.ReLU
    return nn.Sequential(
        c(256, 256, 3), r(), c(256, 256, 3), r(), c(256, 256, 3), r(),
        nn.Upsample(scale_factor=2, mode="bilinear"), r(), c(256, 256, 3), r(), c(256, 32, 1),
    )  # fmt: skip


class YolactResNetBackbone(nn.Module):
    """YOLACT's ResNetBackbone: ``conv1``, ``bn1``, ``layers.0`` … ``layers.3``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layers = nn.ModuleList(_tv_layers((3, 4, 6, 3)))


class YolactEdgeMobileNetV2(nn.Module):
    """YolactEdge's MobileNetV2Backbone: ``layers.0`` stem, ``layers.1-7`` one Sequential per
    row of the MobileNetV2 table, ``layers.8`` the 1×1 conv (here: a torchvision replica's)."""

    def __init__(self, tv: nn.Module) -> None:
        super().__init__()
        f = list(tv.features)
        spans = ((1, 2), (2, 4), (4, 7), (7, 11), (11, 14), (14, 17), (17, 18))
        rows = [nn.Sequential(*f[a:b]) for a, b in spans]
        self.layers = nn.ModuleList([f[0], *rows, f[18]])


class YolactReplica(nn.Module):
    def __init__(self, edge_mobilenet: nn.Module | None = None) -> None:
        super().__init__()
        edge = edge_mobilenet is not None
        self.backbone = YolactEdgeMobileNetV2(edge_mobilenet) if edge else YolactResNetBackbone()
        self.proto_net = _proto_net()
        if edge:  # YolactEdge: the FPN in two phases, plus a flow network
            fpn = YolactFPN([32, 64, 160])
            self.fpn_phase_1 = nn.Module()
            self.fpn_phase_1.lat_layers = fpn.lat_layers
            self.fpn_phase_2 = nn.Module()
            self.fpn_phase_2.pred_layers = fpn.pred_layers
            self.fpn_phase_2.downsample_layers = fpn.downsample_layers
            self.flow_net = nn.Sequential(nn.Conv2d(512, 64, 3))
        else:
            self.fpn = YolactFPN([512, 1024, 2048])
        self.prediction_layers = nn.ModuleList([YolactPrediction()])
        self.semantic_seg_conv = nn.Conv2d(256, 80, 1)


def test_yolact_resnet50_fills_the_whole_model_and_its_fpn_in_level_order(tmp_path, randomize):
    ref = randomize(YolactReplica(), seed=4)
    path = _save(ref.state_dict(), tmp_path / "yolact_resnet50_54_800000.pth")
    assert detect_source(set(read_weights(path)[0])).name == "yolact"
    model = create_model("yolact_r50", class_names=COCO).eval()  # COCO: heads fit too
    report = import_weights(model, path)
    assert report.source == "yolact"
    assert report.missing == [] and report.mismatched == [] and report.unused == []
    feats = [torch.randn(1, c, s, s) for c, s in ((512, 8), (1024, 4), (2048, 2))]
    with torch.no_grad():
        for ours, theirs in zip(model.fpn(*feats), ref.fpn(feats)):
            torch.testing.assert_close(ours, theirs)
    sd = model.state_dict()
    assert torch.equal(sd["head.coef.weight"], ref.prediction_layers[0].mask_layer.weight)
    assert torch.equal(sd["protonet.post.2.weight"], ref.proto_net[10].weight)


def test_yolact_edge_mobilenetv2_backbone_fits_and_the_report_names_what_does_not(
    tmp_path, randomize, torchvision_mobilenetv2
):
    ref = randomize(YolactReplica(edge_mobilenet=torchvision_mobilenetv2()), seed=5)
    path = _save(ref.state_dict(), tmp_path / "yolact_edge_mobilenetv2_54_800000.pth")
    model = create_model("yolact_mobilenetv2", class_names=COCO).eval()
    report = import_weights(model, path)
    assert report.backbone_matched == report.backbone_total
    # YolactEdge taps C4/C5 at 64/160 channels, ours at 96/320: those laterals cannot fit
    assert sorted(t for _, t, _, _ in report.mismatched) == [
        "fpn.lateral.1.weight",
        "fpn.lateral.2.weight",
    ]
    assert {k.split(".")[0] for k in report.unused} == {"backbone", "flow_net"}
    x = torch.randn(1, 3, X, X)
    with torch.no_grad():
        c3 = model.lower(x)
        ref_c3 = ref.backbone.layers[3](
            ref.backbone.layers[2](ref.backbone.layers[1](ref.backbone.layers[0](x)))
        )
        torch.testing.assert_close(c3, ref_c3)


# ------------------------------------------------------------------------------------------
# Ultralytics YOLOv5 v6 (models/common.py, models/yolo.py names), state-dict form
# ------------------------------------------------------------------------------------------
class UConv(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class UBottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1, self.cv2 = UConv(c1, c2, 1), UConv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class UC3(nn.Module):
    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        c_ = c2 // 2
        self.cv1, self.cv2, self.cv3 = UConv(c1, c_), UConv(c1, c_), UConv(2 * c_, c2)
        self.m = nn.Sequential(*(UBottleneck(c_, c_, shortcut) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))


class USPPF(nn.Module):
    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.cv1, self.cv2 = UConv(c1, c1 // 2), UConv(c1 // 2 * 4, c2)
        self.m = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))


class UDetect(nn.Module):
    def __init__(self, ch: tuple[int, ...], nc: int = 80) -> None:
        super().__init__()
        self.no, self.na = nc + 5, 3
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)
        self.register_buffer("anchors", torch.rand(3, 3, 2))  # in stride units


class UltralyticsYolov5n(nn.Module):
    """``DetectionModel`` of yolov5n.yaml (v6.0+): ``model.0`` … ``model.24``."""

    def __init__(self) -> None:
        super().__init__()
        up, cat = nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Identity()
        self.model = nn.Sequential(
            UConv(3, 16, 6, 2, 2), UConv(16, 32, 3, 2), UC3(32, 32, 1), UConv(32, 64, 3, 2),
            UC3(64, 64, 2), UConv(64, 128, 3, 2), UC3(128, 128, 3), UConv(128, 256, 3, 2),
            UC3(256, 256, 1), USPPF(256, 256), UConv(256, 128), up, cat,
            UC3(256, 128, 1, False), UConv(128, 64), up, cat, UC3(128, 64, 1, False),
            UConv(64, 64, 3, 2), cat, UC3(128, 128, 1, False), UConv(128, 128, 3, 2), cat,
            UC3(256, 256, 1, False), UDetect((64, 128, 256)),
        )  # fmt: skip

    def forward(self, x):
        m = self.model
        x = m[1](m[0](x))
        p4_in = m[4](m[3](m[2](x)))
        p6_in = m[6](m[5](p4_in))
        l10 = m[10](m[9](m[8](m[7](p6_in))))
        l14 = m[14](m[13](torch.cat([m[11](l10), p6_in], 1)))
        o3 = m[17](torch.cat([m[15](l14), p4_in], 1))
        o4 = m[20](torch.cat([m[18](o3), l14], 1))
        o5 = m[23](torch.cat([m[21](o4), l10], 1))
        det = m[24]
        outs = []
        for conv, f in zip(det.m, (o3, o4, o5)):
            y = conv(f)
            n, _, h, w = y.shape
            outs.append(y.view(n, det.na, det.no, h, w).permute(0, 1, 3, 4, 2))
        return outs


def test_yolov5n_state_dict_gives_the_same_raw_maps(tmp_path, randomize):
    ref = randomize(UltralyticsYolov5n(), seed=6)
    path = _save(ref.state_dict(), tmp_path / "yolov5n_state.pt")
    model = create_model("yolov5n", class_names=COCO).eval()
    report = import_weights(model, path)
    assert report.source == "yolov5"
    assert report.mismatched == []
    # anchors are not learned weights: ours come from the training config, in pixels
    assert report.missing == ["head.anchors"] and report.unused == ["model.24.anchors"]
    model.head.raw_output = True
    x = torch.randn(1, 3, X, X)
    with torch.no_grad():
        for ours, theirs in zip(model(x), ref(x)):
            torch.testing.assert_close(ours, theirs)


def test_yolov5_head_of_other_classes_is_reported_not_loaded(tmp_path):
    path = _save(UltralyticsYolov5n().state_dict(), tmp_path / "yolov5n_state.pt")
    report = import_weights(create_model("yolov5n", class_names=["a", "b", "c"]), path)
    assert report.backbone_matched == report.backbone_total
    assert sorted(t for _, t, _, _ in report.mismatched) == [
        f"head.m.{i}.{p}" for i in range(3) for p in ("bias", "weight")
    ]


# ------------------------------------------------------------------------------------------
# files, detection, convert
# ------------------------------------------------------------------------------------------
def test_a_pickled_module_is_refused_with_the_hint(tmp_path):
    path = tmp_path / "yolov5n.pt"  # what Ultralytics publishes: a pickled model
    torch.save({"model": nn.Conv2d(3, 4, 1)}, path)
    with pytest.raises(CheckpointError, match="refused .*state_dict\\(\\) first"):
        read_weights(path)


def test_unknown_names_and_unknown_sources_are_one_line_errors(tmp_path):
    path = _save({"encoder.weight": torch.zeros(2)}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="not a checkpoint of a known source"):
        import_weights(create_model("yolov5n"), path)
    with pytest.raises(ConfigError, match="unknown pretrained source 'nope'"):
        import_weights(create_model("yolov5n"), path, source="nope")
    with pytest.raises(CheckpointError, match="no tensors|holds no state dict"):
        read_weights(_save({}, tmp_path / "empty.pth"))


def test_convert_writes_a_checkpoint_that_loads_and_records_its_source(
    tmp_path, torchvision_mobilenetv2
):
    from edgevision.checkpoint import load_checkpoint, load_model

    tv = torchvision_mobilenetv2(seed=7)
    src = _save(tv.state_dict(), tmp_path / "mobilenet_v2.pth")
    out = tmp_path / "liteseg_imagenet.pt"
    report = convert(src, out, model="liteseg_mobilenetv2")
    spec, _, _ = load_checkpoint(out)
    rec = spec.extra["pretrained"]
    assert rec["source"] == "torchvision-mobilenetv2" and rec["file"] == "mobilenet_v2.pth"
    assert rec["backbone_matched"] == rec["backbone_total"] == report.backbone_total
    assert len(rec["sha256"]) == 64
    model = load_model(out)
    x = torch.randn(1, 3, X, X)
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x)["c5"], tv.features(x))
    # the converted file is itself a --pretrained input (same model, identity mapping)
    again = create_model("liteseg_mobilenetv2", class_names=[str(i) for i in range(3)])
    rep = import_weights(again, out)
    assert rep.backbone_matched == rep.backbone_total
    assert rep.mismatched  # the 11-class head does not fit 3 classes
    with pytest.raises(CheckpointError, match="is a checkpoint of 'liteseg_mobilenetv2'"):
        import_weights(create_model("deeplabv3plus_mobilenetv2"), out)
