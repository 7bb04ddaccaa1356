fn main() {
    dvc_build::fetch().unwrap();
}
